// The built browser module (www/pkg, `cargo xtask www`) used from node, as
// its docs say: initSync with the .wasm bytes, then the JS API with plain
// objects in and out. Run by `cargo xtask test` (step "wasm-node").
import { createHash, generateKeyPairSync, sign as signWith } from "node:crypto";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import assert from "node:assert/strict";
import test from "node:test";

const pkg = new URL("../../../www/pkg/", import.meta.url);
const m = await import(new URL("embedgate_wasm.js", pkg));
m.initSync({ module: readFileSync(fileURLToPath(new URL("embedgate_wasm_bg.wasm", pkg))) });

const clientId = "0123456789abcdef0123456789abcdef";
const secret = "egs_node_smoke_secret";
const now = 1_700_000_000;

test("sign, inspect, verify and explain round-trip through JS values", () => {
  const token = m.sign({ client_id: clientId, secret, sub: "ana@example.com", ttl_s: 300, now, claims: { teams: ["x"] } });
  const seen = m.inspect(token);
  assert.equal(seen.parts, 3);
  assert.equal(seen.kid, clientId);
  assert.deepEqual(seen.claims.teams, ["x"]);
  const ok = m.verify(token, secret, { now: now + 1, url: "/acme/workbook/1" });
  assert.equal(ok.ok, true);
  assert.equal(ok.sub, "ana@example.com");
  assert.equal(ok.org, "acme");
  assert.equal(m.verify(token, "egs_wrong", { now }).error, "bad_signature");
  const report = m.explain(token, null, { now });
  assert.equal(report.result.pending, "signature_not_checked");
  assert.equal(report.rules.length, 17);
  assert.equal(report.rules.find((r) => r.rule === "signature").verdict, "not_reached");
  const late = m.explain(token, secret, { now: now + 3600 });
  assert.equal(late.result.error, "expired");
  assert.equal(late.rules.find((r) => r.verdict === "fail").rule, "expiry");
});

test("bad input throws an Error naming the field; codes list all of §4", () => {
  assert.throws(() => m.explain("a.b.c", null, { owner_account_type: "viewer" }), /^Error: owner: /);
  assert.throws(() => m.explain("a.b.c", null, { bogus: true }), /^Error: options: /);
  assert.throws(() => m.sign({ client_id: "nope", secret, sub: "a" }), /^Error: client_id: /);
  const codes = m.errorCodes();
  assert.equal(codes.length, 16);
  assert.deepEqual(codes.find((c) => c.code === "origin_not_allowed"), { code: "origin_not_allowed", status: 403 });
  assert.equal(m.inspect("garbage").header_error, "not base64url");
  // Numbers beyond 2^53 (a hostile iat) still come back as plain objects.
  const huge = m.sign({ client_id: clientId, secret, sub: "a@b.c", now, claims: { iat: 9223372036854775807 } });
  assert.equal(typeof m.inspect(huge).claims.iat, "number");
});

/** A compact JWS signed by node:crypto (ES256: IEEE P1363 r || s; EdDSA: Ed25519). */
function jws(header, claims, privateKey) {
  const b64 = (v) => Buffer.from(JSON.stringify(v)).toString("base64url");
  const input = `${b64(header)}.${b64(claims)}`;
  const sig = header.alg === "ES256" ? signWith("sha256", Buffer.from(input), { key: privateKey, dsaEncoding: "ieee-p1363" }) : signWith(null, Buffer.from(input), privateKey);
  return `${input}.${sig.toString("base64url")}`;
}

/** RFC 7638: base64url SHA-256 of the required members in lexicographic order. */
function thumbprint(jwk) {
  const canonical = jwk.kty === "EC" ? { crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y } : { crv: jwk.crv, kty: jwk.kty, x: jwk.x };
  return createHash("sha256").update(JSON.stringify(canonical)).digest("base64url");
}

test("ES256 and EdDSA tokens verify with the pasted public JWK; the private one is refused", () => {
  for (const [alg, type, opts] of [["ES256", "ec", { namedCurve: "P-256" }], ["EdDSA", "ed25519", {}]]) {
    const { publicKey, privateKey } = generateKeyPairSync(type, opts);
    const jwk = publicKey.export({ format: "jwk" });
    const claims = { sub: "ana@example.com", jti: `j-${alg}`, iat: now, exp: now + 300 };
    const token = jws({ alg, typ: "JWT", kid: clientId }, claims, privateKey);
    const info = m.keyInfo(JSON.stringify(jwk, null, 2));
    assert.deepEqual(info, { kind: "public_key", algorithm: alg, thumbprint: thumbprint(jwk) });
    assert.equal(m.verify(token, JSON.stringify(jwk), { now: now + 1 }).ok, true, alg);
    const report = m.explain(token, JSON.stringify(jwk), { now: now + 1 });
    assert.equal(report.result.ok, true);
    assert.equal(report.rules.find((r) => r.rule === "signature").verdict, "pass");
    const tampered = token.replace(/\.[^.]+\./, `.${Buffer.from(JSON.stringify({ ...claims, sub: "eve@example.com" })).toString("base64url")}.`);
    assert.equal(m.verify(tampered, JSON.stringify(jwk), { now: now + 1 }).error, "bad_signature");
    // The private JWK: refused as a key, and its d is not in the message.
    const priv = privateKey.export({ format: "jwk" });
    assert.throws(() => m.verify(token, JSON.stringify(priv), { now }), (e) => /^key: .*private key/.test(e.message) && !e.message.includes(priv.d));
    assert.equal(m.keyInfo("egs_anything").kind, "secret");
  }
});
