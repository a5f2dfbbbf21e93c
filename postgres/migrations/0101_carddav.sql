-- What the CardDAV server keeps beside the CRM (carddav.Store): the
-- resource name a client chose for a contact it created, and the last card
-- a client PUT.
CREATE TABLE carddav_names (
	user_guid text NOT NULL,
	item_guid text NOT NULL,
	name      text NOT NULL,
	PRIMARY KEY (user_guid, item_guid)
);
CREATE UNIQUE INDEX carddav_names_by_name ON carddav_names (user_guid, name);

CREATE TABLE carddav_cards (
	item_guid text PRIMARY KEY,
	tag       text  NOT NULL,
	card      bytea NOT NULL
);
