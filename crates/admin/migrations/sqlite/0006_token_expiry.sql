-- Member API tokens expire (issue 14). Every new token gets an expiry at
-- issue (the server's default lifetime, or what the caller asked for within
-- its maximum). Tokens issued before this migration never expired: they get
-- 90 days (the default maximum) from the moment of the migration, so an
-- upgrade signs nobody out at once and no old token lives on forever.
ALTER TABLE member_tokens ADD COLUMN expires_at BIGINT NOT NULL DEFAULT 0;
UPDATE member_tokens SET expires_at = CAST(strftime('%s', 'now') AS INTEGER) + 7776000;
