-- Who made a change through the API, precisely (issue 14): the ID of the
-- member token used (never the token) and the client address as the
-- trusted-proxy rule resolved it. Null for the command line's changes
-- (init, rekey, the upgrade) and for entries from before this migration.
ALTER TABLE audit ADD COLUMN token_id TEXT;
ALTER TABLE audit ADD COLUMN address TEXT;
