// The built browser module (www/pkg, `cargo xtask www`) used from node, as
// its docs say: initSync with the .wasm bytes, then the JS API with plain
// objects in and out. Run by `cargo xtask test` (step "wasm-node").
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
