-- embedgate admin schema v1 (PostgreSQL). Times are Unix seconds, lists are JSON text.
-- No secret is stored: only the generation numbers the master key derives them from.
CREATE TABLE orgs (
    slug TEXT PRIMARY KEY,
    created_at BIGINT NOT NULL
);
CREATE TABLE members (
    org TEXT NOT NULL REFERENCES orgs (slug),
    email TEXT NOT NULL,
    account_type TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'active',
    created_at BIGINT NOT NULL,
    PRIMARY KEY (org, email)
);
CREATE TABLE member_tokens (
    id TEXT PRIMARY KEY,
    org TEXT NOT NULL,
    email TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    revoked_at BIGINT,
    FOREIGN KEY (org, email) REFERENCES members (org, email)
);
CREATE TABLE credentials (
    client_id TEXT PRIMARY KEY,
    org TEXT NOT NULL REFERENCES orgs (slug),
    name TEXT NOT NULL,
    description TEXT,
    owner_email TEXT NOT NULL,
    privileges TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    revoked_at BIGINT,
    revoked_by TEXT,
    last_used_at BIGINT,
    kdf TEXT NOT NULL DEFAULT 'v1',
    current_generation BIGINT NOT NULL,
    previous_generation BIGINT,
    allowed_origins TEXT NOT NULL DEFAULT '[]',
    max_token_lifetime_s BIGINT,
    not_before_cutoff BIGINT,
    UNIQUE (org, name)
);
CREATE INDEX credentials_by_org ON credentials (org, created_at);
CREATE TABLE audit (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org TEXT NOT NULL,
    at BIGINT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_by_org ON audit (org, id);
CREATE TABLE state_version (
    id BIGINT PRIMARY KEY,
    version BIGINT NOT NULL
);
INSERT INTO state_version (id, version) VALUES (1, 0);
