// A host app's side of a public-key credential, with Node's standard library only.
//
//   node sign-with-key.mjs keygen es256|eddsa
//       prints {"private_jwk": {...}, "public_jwk": {...}}: keep the private
//       half on your server; give embedgate the public half (the console's
//       "my own public key", or "public_key" in POST …/credentials).
//
//   EMBED_PRIVATE_JWK='{"kty":…,"d":…}' node sign-with-key.mjs sign CLIENT_ID EMAIL
//       prints an embed token (ES256 or EdDSA, from the key's type): header
//       kid = CLIENT_ID, claims sub, jti, iat = now, exp = now + 10 minutes.
//       The private key comes from the environment, never the command line.
import { createPrivateKey, generateKeyPairSync, randomUUID, sign } from "node:crypto";

const b64url = (data) => Buffer.from(data).toString("base64url");

function keygen(kind) {
  const pair =
    kind === "es256"
      ? generateKeyPairSync("ec", { namedCurve: "P-256" })
      : kind === "eddsa"
        ? generateKeyPairSync("ed25519")
        : null;
  if (!pair) throw new Error("keygen takes es256 or eddsa");
  const { kty, crv, x, y } = pair.publicKey.export({ format: "jwk" });
  const publicJwk = y === undefined ? { kty, crv, x } : { kty, crv, x, y };
  return { private_jwk: pair.privateKey.export({ format: "jwk" }), public_jwk: publicJwk };
}

function signToken(privateJwk, clientId, email) {
  const key = createPrivateKey({ key: privateJwk, format: "jwk" });
  const alg = privateJwk.kty === "EC" ? "ES256" : "EdDSA";
  const now = Math.floor(Date.now() / 1000);
  const header = { alg, typ: "JWT", kid: clientId };
  const claims = { sub: email, jti: randomUUID(), iat: now, exp: now + 600 };
  const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
  // ES256 in a JWS is r ‖ s (64 bytes), not DER: ask Node for "ieee-p1363".
  const signature =
    alg === "ES256"
      ? sign("sha256", Buffer.from(input), { key, dsaEncoding: "ieee-p1363" })
      : sign(null, Buffer.from(input), key);
  return `${input}.${b64url(signature)}`;
}

const [command, ...args] = process.argv.slice(2);
if (command === "keygen" && args.length === 1) {
  console.log(JSON.stringify(keygen(args[0])));
} else if (command === "sign" && args.length === 2) {
  const jwk = process.env.EMBED_PRIVATE_JWK;
  if (!jwk) throw new Error("EMBED_PRIVATE_JWK is not set");
  console.log(signToken(JSON.parse(jwk), args[0], args[1]));
} else {
  console.error("usage: sign-with-key.mjs keygen es256|eddsa | sign CLIENT_ID EMAIL (EMBED_PRIVATE_JWK set)");
  process.exit(2);
}
