-- The edge change log (architecture.md §6): every committed change that
-- touches what the edges hold records which records it touched, at which
-- state version, in the same transaction. A push to an edge carries the
-- records changed since the version the edge acknowledged.
CREATE TABLE changes (
    version BIGINT NOT NULL,
    org TEXT NOT NULL,
    kind TEXT NOT NULL,
    record TEXT NOT NULL,
    at BIGINT NOT NULL,
    PRIMARY KEY (version, org, kind, record)
);
CREATE INDEX changes_by_at ON changes (at, version);
-- Each record's version: the state version of its last change. An edge
-- applies a record only when it is newer than the one it holds.
ALTER TABLE credentials ADD COLUMN version BIGINT NOT NULL DEFAULT 0;
ALTER TABLE members ADD COLUMN version BIGINT NOT NULL DEFAULT 0;
ALTER TABLE orgs ADD COLUMN version BIGINT NOT NULL DEFAULT 0;
-- Where the org's replay guards live at the edge (a Durable Objects location hint, null for the edge's first region).
ALTER TABLE orgs ADD COLUMN home_region TEXT;
-- Rows written before the log existed are as new as the current version:
-- an edge behind it gets a full state, the log floor starts there.
UPDATE credentials SET version = (SELECT version FROM state_version WHERE id = 1);
UPDATE members SET version = (SELECT version FROM state_version WHERE id = 1);
UPDATE orgs SET version = (SELECT version FROM state_version WHERE id = 1);
INSERT INTO settings (name, value) SELECT 'change_log_floor', CAST(version AS TEXT) FROM state_version WHERE id = 1;
-- A full state reads an org's credentials in client ID order.
CREATE INDEX credentials_by_org_id ON credentials (org, client_id);
