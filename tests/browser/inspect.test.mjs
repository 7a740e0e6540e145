// The token inspector (/inspect): answers every vector exactly as
// `embedgate verify` did, without a single request after the page and its
// WASM module have loaded.

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import { env, launch, newPage, shot } from "./lib.mjs";

const e = env("adminUrl", "vectors");
const vectors = JSON.parse(fs.readFileSync(e.vectors, "utf8"));
let browser;

// Option key → [test id, kind]; every key the inspector takes.
const FIELDS = {
  client_id: ["client-id-input", "text"],
  org: ["org-input", "text"],
  url: ["url-input", "text"],
  owner: ["owner-input", "text"],
  owner_account_type: ["owner-type-input", "select"],
  allowed_origins: ["allowed-origins-input", "lines"],
  origin: ["origin-input", "text"],
  max_token_lifetime: ["max-lifetime-input", "text"],
  not_before_cutoff: ["cutoff-input", "text"],
  revoked: ["revoked-input", "check"],
  seen_jtis: ["seen-jtis-input", "lines"],
  audience: ["audience-input", "text"],
  leeway: ["leeway-input", "text"],
  now: ["now-input", "text"],
};

/**
 * The credential's key of a vector as the inspector takes it: the embed
 * secret, or the public JWK's JSON of an ES256/EdDSA case (the harness
 * names it `key`, or `secret` as before).
 */
const keyOf = (v) => v.key ?? v.secret ?? "";

/** Fills the whole form for one case (fields absent from `options` are emptied or reset). */
async function fill(page, { token, options, ...rest }) {
  const unknown = Object.keys(options).filter((k) => !(k in FIELDS) && k !== "privileges");
  assert.deepEqual(unknown, [], "options the inspector has no field for");
  const values = {};
  for (const [key, [testid, kind]] of Object.entries(FIELDS)) {
    const v = options[key];
    if (kind === "lines") values[testid] = Array.isArray(v) ? v.join("\n") : "";
    else if (kind === "check") values[testid] = Boolean(v);
    else if (kind === "select") values[testid] = v ?? "admin";
    else values[testid] = v === undefined || v === null ? "" : String(v);
  }
  const privileges = options.privileges ?? ["embedding"];
  values["privileges-embedding-input"] = privileges.includes("embedding");
  values["privileges-api-input"] = privileges.includes("api");
  values["token-input"] = token;
  values["secret-input"] = keyOf(rest);
  // Set every field at once in the page (typing 8 KiB tokens key by key is slow), then Check.
  await page.evaluate((vals) => {
    for (const [testid, v] of Object.entries(vals)) {
      const el = document.querySelector(`[data-testid="${testid}"]`);
      if (!el) throw new Error(`no field ${testid}`);
      if (el.type === "checkbox") el.checked = v;
      else el.value = v;
      el.dispatchEvent(new Event("input", { bubbles: true }));
    }
  }, values);
  await page.getByTestId("check-button").click();
  return (await page.getByTestId("final-code").textContent()).trim();
}

describe("token inspector", () => {
  let page;
  const requests = [];

  before(async () => {
    browser = await launch();
    page = await newPage(browser);
    await page.goto(`${e.adminUrl}/inspect`, { waitUntil: "load" });
    await page.locator("body[data-ready=true]").waitFor({ timeout: 15000 });
    await page.waitForLoadState("networkidle");
    page.on("request", (r) => requests.push(`${r.method()} ${r.url()}`));
  });
  after(async () => {
    await browser?.close();
  });

  test("has labelled fields", async () => {
    for (const id of ["token-input", "secret-input", "client-id-input", "owner-input", "owner-type-input", "now-input", "revoked-input"]) {
      const labelled = await page.getByTestId(id).evaluate((el) => el.labels && el.labels.length > 0);
      assert.ok(labelled, `${id} has no label`);
    }
  });

  test(`answers all ${vectors.length} vectors as embedgate verify does`, async () => {
    assert.ok(vectors.length > 0);
    const wrong = [];
    for (const v of vectors) {
      const want = v.cli.ok ? "ok" : v.cli.error;
      const got = await fill(page, v);
      if (got !== want) wrong.push(`${v.name}: inspector ${got}, cli ${want}`);
    }
    assert.deepEqual(wrong, []);
  });

  test("without a secret a well-formed token is signature_not_checked", async () => {
    const valid = vectors.find((v) => v.cli.ok);
    assert.ok(valid, "a valid vector");
    const got = await fill(page, { ...valid, secret: "", key: "" });
    assert.equal(got, "signature_not_checked");
    await page.getByTestId("rules-table").locator("tr[data-verdict=not_reached]").first().waitFor();
    await shot(page, "inspect-no-secret");
  });

  test("a garbage token is malformed_token", async () => {
    const got = await fill(page, { token: "this is not a token", secret: "", options: {} });
    assert.equal(got, "malformed_token");
    const failing = page.getByTestId("rules-table").locator("tr[data-verdict=fail]");
    assert.equal(await failing.count(), 1);
    assert.equal(await failing.getAttribute("data-rule"), "structure");
  });

  test("a refused token shows the failing rule with its detail", async () => {
    const refused = vectors.find((v) => v.cli.error === "expired") || vectors.find((v) => v.cli.error && v.cli.error !== "malformed_token");
    assert.ok(refused, "a refused vector");
    const got = await fill(page, refused);
    assert.equal(got, refused.cli.error);
    await shot(page, "inspect-refused");
  });

  test("an accepted token, re-evaluated on input without the Check button", async () => {
    const valid = vectors.find((v) => v.cli.ok);
    await fill(page, valid);
    assert.equal((await page.getByTestId("final-code").textContent()).trim(), "ok");
    await page.getByText("Advanced: simulate the edge").click();
    // Typing a different "now" far in the future re-evaluates by itself (debounced).
    await page.getByTestId("now-input").fill(String(Number(valid.options.now ?? Math.floor(Date.now() / 1000)) + 10 * 365 * 86400));
    await page.getByTestId("final-code").filter({ hasText: /^expired$/ }).waitFor({ timeout: 3000 });
    await fill(page, valid);
    await shot(page, "inspect");
  });

  test("public-key vectors are among them", () => {
    assert.ok(vectors.some((v) => keyOf(v).trimStart().startsWith("{") && v.cli.ok), "an accepted ES256/EdDSA vector");
  });

  test("create a test token fills the token box", async () => {
    // Test tokens are HS256, signed with an embed secret.
    const valid = vectors.find((v) => v.cli.ok && !keyOf(v).trimStart().startsWith("{"));
    await page.getByText("Create a test token").click();
    await page.getByTestId("sign-client-id").fill(valid.options.client_id || "0123456789abcdef0123456789abcdef");
    await page.getByTestId("sign-secret").fill(keyOf(valid));
    await page.getByTestId("sign-sub").fill("test@example.com");
    // "now" of the vector may be in the past: check as of now.
    await page.getByTestId("now-input").fill("");
    await page.getByTestId("sign-button").click();
    assert.match(await page.getByTestId("token-input").inputValue(), /^eyJ[\w-]+\.[\w-]+\.[\w-]+$/);
    await page.getByTestId("final-code").filter({ hasText: /^ok$/ }).waitFor({ timeout: 3000 });
  });

  test("made no request after loading", () => {
    assert.deepEqual(requests, []);
  });

  test("no page errors", () => {
    assert.deepEqual(page.errors, []);
  });
});
