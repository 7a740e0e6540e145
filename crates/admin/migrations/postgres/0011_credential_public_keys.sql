-- Asymmetric credentials (issue 15): a credential created with a host app's
-- public key (ES256 over P-256 or EdDSA over Ed25519) has no secret: its live
-- generations' public keys are stored here, one row per live generation
-- (current and, after a rotation, previous). `jwk` is the canonical public
-- JWK (RFC 7638 member order, public members only), `thumbprint` its RFC 7638
-- thumbprint. A credential is a public-key one exactly when it has rows here.
-- A retired generation's row goes at retire-previous, and every row goes with the
-- credential (DELETE of a revoked credential). Nothing here is secret.
CREATE TABLE credential_public_keys (
    org TEXT NOT NULL,
    client_id TEXT NOT NULL,
    generation BIGINT NOT NULL,
    jwk TEXT NOT NULL,
    thumbprint TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (client_id, generation)
);
