-- Several nodes: each partnership is run by the node holding its lease.
-- token grows by one at every change of holder, and every state commit of
-- a node checks it holds the lease with its token (fencing), so a node
-- that was paused past expires cannot write after another took over.
CREATE TABLE partnership_leases (
	partnership bigint      PRIMARY KEY REFERENCES partnerships (id) ON DELETE CASCADE,
	node        text        NOT NULL,
	token       bigint      NOT NULL,
	expires     timestamptz NOT NULL
);
