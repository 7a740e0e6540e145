-- Invitations (issue 14): a member token is issued only to its own member,
-- so an admin gives a new member (or one whose tokens all expired) a
-- one-time code instead, and the member exchanges it for a token of their own
-- that the admin never sees. Stored only as SHA-256, single use, expiring.
CREATE TABLE member_invitations (
    id TEXT PRIMARY KEY,
    org TEXT NOT NULL,
    email TEXT NOT NULL,
    code_hash TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    redeemed_at BIGINT,
    FOREIGN KEY (org, email) REFERENCES members (org, email)
);
CREATE INDEX member_invitations_by_member ON member_invitations (org, email);
