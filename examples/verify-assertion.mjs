// Verifies the edge's identity assertion (`x-embedgate-assertion`) at the
// origin with nothing but Node's standard library (node >= 20): the EdDSA
// signature under a key the edge publishes, then `aud`, `exp` and `iat`.
//
//   node verify-assertion.mjs EDGE_URL AUDIENCE ASSERTION
//
// prints the verified claims as JSON, or exits 1 with the reason. In a
// server, fetch the JWKS once and refetch it when a `kid` is unknown.
import { createPublicKey, verify } from "node:crypto";

const b64 = (part) => Buffer.from(part, "base64url");

export async function fetchJwks(edgeUrl) {
  const resp = await fetch(new URL("/.well-known/embedgate/jwks.json", edgeUrl));
  if (!resp.ok) throw new Error(`JWKS: HTTP ${resp.status}`);
  return resp.json();
}

export function verifyAssertion(token, jwks, audience, now = Math.floor(Date.now() / 1000)) {
  const [h, p, s, extra] = String(token).split(".");
  if (!s || extra !== undefined) throw new Error("not a compact JWS");
  const header = JSON.parse(b64(h));
  if (header.alg !== "EdDSA") throw new Error("alg must be EdDSA");
  const jwk = jwks.keys.find((k) => k.kid === header.kid && k.kty === "OKP" && k.crv === "Ed25519");
  if (!jwk) throw new Error("unknown kid");
  const key = createPublicKey({ key: { kty: jwk.kty, crv: jwk.crv, x: jwk.x }, format: "jwk" });
  if (!verify(null, Buffer.from(`${h}.${p}`), key, b64(s))) throw new Error("bad signature");
  const claims = JSON.parse(b64(p));
  if (claims.aud !== audience) throw new Error("wrong audience");
  if (!(claims.exp > now - 5 && claims.iat <= now + 5)) throw new Error("expired or not yet valid");
  return claims;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [edgeUrl, audience, token] = process.argv.slice(2);
  try {
    console.log(JSON.stringify(verifyAssertion(token, await fetchJwks(edgeUrl), audience)));
  } catch (e) {
    console.error(`refused: ${e.message}`);
    process.exit(1);
  }
}
