-- API access tokens (issue 15): what the OAuth client-credentials grant
-- (POST /api/v1/oauth/token) issues to a credential with the `api`
-- privilege. Stored only as SHA-256, short-lived, and each names the secret
-- generation that authenticated it, so it dies with that generation
-- (rotation and retirement), with the credential's revocation, and with
-- its owner's deactivation, checked by a join at every request, no sweeper.
-- No foreign key to credentials: deleting a (revoked) credential leaves its
-- dead tokens behind, matching nothing.
CREATE TABLE api_tokens (
    id TEXT PRIMARY KEY,
    org TEXT NOT NULL,
    client_id TEXT NOT NULL,
    generation BIGINT NOT NULL,
    owner_email TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE INDEX api_tokens_by_credential ON api_tokens (org, client_id);
