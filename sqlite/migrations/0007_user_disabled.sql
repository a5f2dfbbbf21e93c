-- A disabled user cannot sign in; their sessions and syncs stop (issue 10).
ALTER TABLE users ADD COLUMN disabled INTEGER NOT NULL DEFAULT 0;
