-- The key hierarchy (architecture.md §9): each org's own key material,
-- stored only wrapped (XChaCha20-Poly1305) under a master key that is never
-- stored here, and named by that master key's id so a rotation can re-wrap
-- org by org. Null until `embedgate serve` (or `init`) sets it with the
-- master key configured.
ALTER TABLE orgs ADD COLUMN key_epoch BIGINT NOT NULL DEFAULT 0;
ALTER TABLE orgs ADD COLUMN key_wrapped TEXT;
ALTER TABLE orgs ADD COLUMN key_master TEXT;
CREATE INDEX orgs_by_key_master ON orgs (key_master);
-- Secrets issued under the retired v1 derivation (one master key for all
-- orgs) cannot be derived from an org key: the upgrade seals each live one
-- under its org's key, here. New generations are derived (v2) and leave
-- these null.
ALTER TABLE credentials ADD COLUMN sealed_current TEXT;
ALTER TABLE credentials ADD COLUMN sealed_previous TEXT;
