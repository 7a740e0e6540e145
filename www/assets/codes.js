// The architecture.md §4 refusal codes, with what each means for a developer.

export const CODES = {
  malformed_token: {
    status: 401,
    title: "Malformed token",
    explain: "The token is not three base64url parts of JSON objects, or it is over 8 KiB.",
  },
  unsupported_algorithm: {
    status: 401,
    title: "Unsupported algorithm",
    explain: "The header's alg must be exactly HS256; jku, jwk, x5u, x5c and crit are refused, and typ, if present, must be JWT.",
  },
  unknown_client: {
    status: 401,
    title: "Unknown client",
    explain: "The header's kid (the client ID) is missing or names no credential the edge knows.",
  },
  bad_signature: {
    status: 401,
    title: "Bad signature",
    explain: "The signature matches no live secret of the credential: wrong secret, a retired secret, or an altered token.",
  },
  credential_revoked: {
    status: 401,
    title: "Credential revoked",
    explain: "The client credentials were revoked (or the token was issued before the credential's cutoff). Every embed signed with them stops working, including open ones.",
  },
  missing_claim: {
    status: 401,
    title: "Missing claim",
    explain: "A required claim (sub, jti, iat or exp) is absent.",
  },
  invalid_claim: {
    status: 401,
    title: "Invalid claim",
    explain: "A claim has the wrong type or value (e.g. iss not the client ID, sub with spaces, exp not after iat, an unknown account_type).",
  },
  audience_mismatch: {
    status: 401,
    title: "Audience mismatch",
    explain: "With ver 1.1 the aud claim must be (or contain) the configured audience.",
  },
  expired: {
    status: 401,
    title: "Expired",
    explain: "The token is past its exp (plus the leeway). Sign a fresh URL for each load.",
  },
  not_yet_valid: {
    status: 401,
    title: "Not yet valid",
    explain: "The token's iat or nbf is in the future (beyond the leeway): check the host server's clock.",
  },
  lifetime_exceeds_limit: {
    status: 401,
    title: "Lifetime exceeds limit",
    explain: "exp − iat is longer than 30 days or the credential's max token lifetime.",
  },
  replayed: {
    status: 401,
    title: "Replayed",
    explain: "This token's jti was already used: every embed URL is single use. Sign a new one.",
  },
  impersonation_not_allowed: {
    status: 403,
    title: "Impersonation not allowed",
    explain: "The credential's owner is not an admin, so it may only sign for its own email and at most its own account type; or a refresh carried a token for another user or credential than the embed's session.",
  },
  org_mismatch: {
    status: 403,
    title: "Org mismatch",
    explain: "The org in the embed URL is not the credential's org.",
  },
  privilege_missing: {
    status: 403,
    title: "Privilege missing",
    explain: "The credential lacks the Embedding privilege.",
  },
  origin_not_allowed: {
    status: 403,
    title: "Origin not allowed",
    explain: "The page framing the embed is not in the credential's allowed origins.",
  },
};

/** What a code means (a generic sentence for codes not in §4). */
export function explainCode(code) {
  return CODES[code] ? CODES[code].explain : "The edge refused this embed.";
}
