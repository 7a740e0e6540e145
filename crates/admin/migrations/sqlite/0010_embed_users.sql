-- Embed users (issue 15): every identity that loaded an embed, per
-- credential, from the edges' usage reports (carried by the sync acks).
-- `loads` adds up over edges and regions, first_seen is the earliest,
-- last_seen the latest, account_type and teams (JSON) those of the latest.
-- Deleted with their credential (DELETE of a revoked credential), no other
-- retention. Readable by the org's admins only (end users' emails).
CREATE TABLE embed_users (
    org TEXT NOT NULL,
    client_id TEXT NOT NULL,
    email TEXT NOT NULL,
    account_type TEXT,
    teams TEXT NOT NULL,
    first_seen BIGINT NOT NULL,
    last_seen BIGINT NOT NULL,
    loads BIGINT NOT NULL,
    PRIMARY KEY (client_id, email)
);
CREATE INDEX embed_users_by_last_seen ON embed_users (org, last_seen, client_id, email);
-- Per source (edge URL and region) the running total of loads last
-- reported: the edges report running totals, so a report read twice (an
-- ack lost, the admin restarted) adds only what grew.
CREATE TABLE embed_user_sources (
    source TEXT NOT NULL,
    client_id TEXT NOT NULL,
    email TEXT NOT NULL,
    loads BIGINT NOT NULL,
    PRIMARY KEY (source, client_id, email)
);
