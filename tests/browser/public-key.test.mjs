// Asymmetric credentials in the browser (issue 15): the host app signs with
// its own private key (ES256 over P-256, EdDSA over Ed25519) and embedgate
// holds only the public key.
//
// - /inspect: an ES256 (and an EdDSA) token signed here with node:crypto is
//   checked against the pasted public JWK with the same per-rule table as
//   HS256 (ok, and bad_signature once tampered); a private JWK is refused by
//   the key field without repeating it; no request is made.
// - the console: an admin creates a credential by pasting a public JWK (a
//   private one is refused by the field, before any request and, without
//   the WASM module, by the server's 422), sees no secret but the
//   algorithm and the RFC 7638 thumbprint computed here; the list shows
//   them; Rotate asks for the new public key (the same one is refused) and
//   shows the new thumbprint beside the previous one until it is retired.

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createHash, generateKeyPairSync, sign as signWith } from "node:crypto";
import { env, fieldErrorText, launch, newPage, orgApi, shot, signIn, unique } from "./lib.mjs";

const e = env("adminUrl");
let browser;

before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

const b64 = (value) => Buffer.from(JSON.stringify(value)).toString("base64url");

/** A key pair of the host app: the public JWK (as exported, with no `alg`) and the private key object. */
function keyPair(alg) {
  const { publicKey, privateKey } = alg === "ES256" ? generateKeyPairSync("ec", { namedCurve: "P-256" }) : generateKeyPairSync("ed25519");
  return { alg, jwk: publicKey.export({ format: "jwk" }), privateJwk: privateKey.export({ format: "jwk" }), privateKey };
}

/** A compact JWS as a host app makes it: ES256 is the IEEE P1363 `r || s` (64 bytes), EdDSA plain Ed25519. */
function signToken(pair, claims, kid) {
  const input = `${b64({ alg: pair.alg, typ: "JWT", kid })}.${b64(claims)}`;
  const data = Buffer.from(input);
  const sig = pair.alg === "ES256" ? signWith("sha256", data, { key: pair.privateKey, dsaEncoding: "ieee-p1363" }) : signWith(null, data, pair.privateKey);
  return `${input}.${sig.toString("base64url")}`;
}

/** RFC 7638: base64url SHA-256 of the required members, lexicographically ordered, no white space. */
function thumbprint(jwk) {
  const required = jwk.kty === "EC" ? { crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y } : { crv: jwk.crv, kty: jwk.kty, x: jwk.x };
  return createHash("sha256").update(JSON.stringify(required)).digest("base64url");
}

describe("token inspector with a public key", () => {
  let page;
  const requests = [];
  const clientId = "0123456789abcdef0123456789abcdef";
  const now = Math.floor(Date.now() / 1000);
  const claims = { sub: "ana@example.com", jti: `jti-${unique()}`, iat: now, exp: now + 600 };

  before(async () => {
    page = await newPage(browser);
    await page.goto(`${e.adminUrl}/inspect`, { waitUntil: "load" });
    await page.locator("body[data-ready=true]").waitFor({ timeout: 15000 });
    await page.waitForLoadState("networkidle");
    page.on("request", (r) => requests.push(`${r.method()} ${r.url()}`));
  });
  after(async () => {
    await page?.context().close();
  });

  /** Pastes a token and a key (as they are typed: the key's text as is), checks, and gives the final code. */
  async function check(token, key) {
    await page.getByTestId("token-input").fill(token);
    await page.getByTestId("secret-input").fill(key);
    await page.getByTestId("check-button").click();
    return (await page.getByTestId("final-code").textContent()).trim();
  }

  test("the key field says it takes an embed secret or a public key (JWK)", async () => {
    assert.ok(await page.getByLabel(/^Embed secret or public key \(JWK\)/).isVisible());
    assert.match(await page.locator("#secret-hint").textContent(), /public key as a JWK/);
    assert.match(await page.locator("#secret-hint").textContent(), /Never paste a private key/);
  });

  for (const alg of ["ES256", "EdDSA"]) {
    test(`an ${alg} token verifies with the pasted public JWK, rule by rule as HS256`, async () => {
      const pair = keyPair(alg);
      const token = signToken(pair, claims, clientId);
      assert.equal(await check(token, JSON.stringify(pair.jwk)), "ok");
      const rows = page.getByTestId("rules-table").locator("tbody tr");
      assert.equal(await rows.count(), 17);
      const verdicts = await rows.evaluateAll((trs) => Object.fromEntries(trs.map((tr) => [tr.dataset.rule, tr.dataset.verdict])));
      assert.equal(verdicts.signature, "pass");
      assert.ok(Object.values(verdicts).every((v) => v === "pass" || v === "skipped"), JSON.stringify(verdicts));
      // The pasted key is named by its algorithm and thumbprint (a secret would not be echoed).
      assert.match(await page.getByTestId("secret-key-info").textContent(), new RegExp(`Public key · ${alg}`));
      assert.equal((await page.getByTestId("secret-thumbprint").textContent()).trim(), thumbprint(pair.jwk));
      assert.match(await page.getByTestId("final-message").textContent(), /ana@example\.com/);
      if (alg === "ES256") await shot(page, "inspect-es256");

      // The payload changed after signing: bad_signature, at the signature rule.
      const [h, , s] = token.split(".");
      const tampered = `${h}.${b64({ ...claims, sub: "mallory@example.com" })}.${s}`;
      assert.equal(await check(tampered, JSON.stringify(pair.jwk)), "bad_signature");
      const failing = page.getByTestId("rules-table").locator("tr[data-verdict=fail]");
      assert.equal(await failing.count(), 1);
      assert.equal(await failing.getAttribute("data-rule"), "signature");
      // Another key pair's public key: bad_signature too.
      assert.equal(await check(token, JSON.stringify(keyPair(alg).jwk)), "bad_signature");
    });
  }

  test("an HS256 token checked with a public key is refused before any signature check", async () => {
    const pair = keyPair("ES256");
    const input = `${b64({ alg: "HS256", typ: "JWT", kid: clientId })}.${b64(claims)}`;
    const forged = `${input}.${createHash("sha256").update(input).digest("base64url")}`;
    assert.equal(await check(forged, JSON.stringify(pair.jwk)), "unsupported_algorithm");
  });

  test("a private JWK is refused by the key field, without repeating it", async () => {
    const pair = keyPair("ES256");
    const token = signToken(pair, claims, clientId);
    assert.equal(await check(token, JSON.stringify(pair.privateJwk)), "invalid_option");
    const error = page.getByTestId("secret-error");
    await error.waitFor();
    assert.match(await error.textContent(), /private key/);
    assert.equal(await page.getByTestId("secret-input").getAttribute("aria-invalid"), "true");
    assert.equal(await page.evaluate((d) => document.body.innerText.includes(d), pair.privateJwk.d), false, "the private key shows in the page");
    await shot(page, "inspect-private-jwk");
    // Back to the public key: the error goes.
    assert.equal(await check(token, JSON.stringify(pair.jwk)), "ok");
    assert.equal(await error.isVisible(), false);
    assert.equal(await page.getByTestId("secret-input").getAttribute("aria-invalid"), null);
  });

  test("made no request after loading", () => {
    assert.deepEqual(requests, []);
  });

  test("no page errors", () => {
    assert.deepEqual(page.errors, []);
  });
});

describe("console: a credential with the host app's public key", () => {
  const c = env("adminUrl", "org", "adminToken", "adminEmail");
  let page;
  const name = `Public key ${unique()}`;
  const first = keyPair("ES256");
  const second = keyPair("ES256");
  let clientId;
  const row = () => page.locator(`[data-testid=credential-row][data-client-id="${clientId}"]`);

  before(async () => {
    page = await newPage(browser);
    await signIn(page, c, c.adminToken);
  });
  after(async () => {
    await page?.context().close();
  });

  async function openCreate() {
    await page.getByTestId("create-new").click();
    const modal = page.getByRole("dialog", { name: "Create client credentials" });
    await modal.waitFor();
    await modal.getByLabel("Name", { exact: true }).fill(name);
    await modal.getByTestId("create-owner").selectOption(c.adminEmail);
    return modal;
  }

  test("the signing key is a choice; the JWK field shows only for a public key", async () => {
    const modal = await openCreate();
    const secretChoice = modal.getByRole("radio", { name: /^Generated secret \(HS256\)/ });
    const publicChoice = modal.getByRole("radio", { name: /^My own public key \(ES256 or EdDSA JWK\)/ });
    assert.equal(await secretChoice.isChecked(), true);
    const jwkField = modal.getByLabel("Public key (JWK)");
    assert.equal(await jwkField.isVisible(), false);
    await publicChoice.check();
    assert.equal(await jwkField.isVisible(), true);
    assert.ok(await jwkField.evaluate((el) => el === document.activeElement), "focus goes to the JWK field");
    assert.match(await jwkField.getAttribute("placeholder"), /^\{"kty":"EC","crv":"P-256","x":"…","y":"…"\}$/);
    await shot(page, "console-create-public-key");
    await page.keyboard.press("Escape");
    await modal.waitFor({ state: "detached" });
  });

  test("a private JWK is refused next to the field before anything is sent", async () => {
    const modal = await openCreate();
    await modal.getByRole("radio", { name: /^My own public key/ }).check();
    const jwkField = modal.getByLabel("Public key (JWK)");
    await jwkField.fill(JSON.stringify(first.privateJwk, null, 2));
    const posts = [];
    const onRequest = (r) => r.method() === "POST" && posts.push(r.url());
    page.on("request", onRequest);
    await modal.getByRole("button", { name: "Create", exact: true }).click();
    assert.equal(await jwkField.getAttribute("aria-invalid"), "true");
    const message = await fieldErrorText(page, jwkField);
    assert.match(message, /private key/);
    assert.ok(!message.includes(first.privateJwk.d), "the error repeats the private key");
    assert.ok(await jwkField.evaluate((el) => el === document.activeElement), "focus goes to the field in error");
    // Not JSON at all (a PEM): said by the field too.
    await jwkField.fill("-----BEGIN PUBLIC KEY-----\nMFkw…\n-----END PUBLIC KEY-----");
    await modal.getByRole("button", { name: "Create", exact: true }).click();
    assert.match(await fieldErrorText(page, jwkField), /JWK/);
    page.off("request", onRequest);
    assert.deepEqual(posts, []);
    await shot(page, "console-create-private-jwk");
    await page.keyboard.press("Escape");
    await modal.waitFor({ state: "detached" });
  });

  test("creates it with the public JWK: no secret, the algorithm and the thumbprint instead", async () => {
    const modal = await openCreate();
    await modal.getByRole("radio", { name: /^My own public key/ }).check();
    const jwkField = modal.getByLabel("Public key (JWK)");
    await jwkField.fill(JSON.stringify(first.jwk, null, 2));
    // The module names the pasted key as it is typed.
    await modal.getByTestId("create-public-key-info").filter({ hasText: thumbprint(first.jwk) }).waitFor();
    await modal.getByRole("button", { name: "Create", exact: true }).click();
    const done = page.getByRole("dialog", { name: "Credentials created" });
    await done.waitFor();
    assert.equal(await page.getByRole("dialog", { name: "Access Credentials" }).count(), 0, "a secret modal was shown");
    assert.equal(await page.getByTestId("secret-value").count(), 0);
    assert.equal((await done.getByTestId("algorithm-value").textContent()).trim(), "ES256");
    assert.equal((await done.getByTestId("thumbprint-value").textContent()).trim(), thumbprint(first.jwk));
    clientId = (await done.getByTestId("client-id-value").textContent()).trim();
    assert.match(clientId, /^[0-9a-f]{32,}$/);
    assert.match(await done.textContent(), /There is no embed secret/);
    assert.equal(await page.evaluate(() => /egs_[a-z0-9]/.test(document.documentElement.outerHTML)), false);
    await shot(page, "console-public-key-created");
    await done.getByRole("button", { name: "Done" }).click();
    await done.waitFor({ state: "detached" });
    // The server agrees: a public-key credential, no secret anywhere in its answer.
    const stored = await orgApi(c, "GET", `/credentials/${clientId}`);
    assert.equal(stored.status, 200);
    assert.equal(stored.body.algorithm, "ES256");
    assert.equal(stored.body.secret, undefined);
    assert.deepEqual(stored.body.public_keys.map((k) => k.thumbprint), [thumbprint(first.jwk)]);
  });

  test("the list shows the algorithm and the key's thumbprint", async () => {
    await row().waitFor();
    assert.equal(await row().getByTestId("row-algorithm").getAttribute("data-algorithm"), "ES256");
    const keys = row().getByTestId("row-key");
    assert.equal(await keys.count(), 1);
    assert.equal((await keys.getByTestId("row-thumbprint").textContent()).trim(), thumbprint(first.jwk));
    // A secret credential says so.
    const other = page.locator("[data-testid=credential-row] [data-testid=row-algorithm][data-algorithm=HS256]");
    if (await other.count()) assert.match(await other.first().textContent(), /HS256/);
    await row().getByTestId("row-more").click();
    assert.deepEqual(await row().getByRole("menu").getByRole("menuitem").allTextContents(), ["Rotate key", "Retire previous key", "Revoke"]);
    await page.keyboard.press("Escape");
    await shot(page, "console-public-key-row");
  });

  test("Rotate asks for the new public key, refuses the same one, and shows the new thumbprint", async () => {
    await row().getByTestId("row-more").click();
    await row().getByRole("menuitem", { name: "Rotate key" }).click();
    const modal = page.getByTestId("rotate-key-modal");
    await modal.waitFor();
    const jwkField = modal.getByLabel("New public key (JWK)");
    assert.ok(await jwkField.evaluate((el) => el === document.activeElement));
    // The key it already has: the server's 409, by the field.
    await jwkField.fill(JSON.stringify(first.jwk));
    await modal.getByRole("button", { name: "Rotate key" }).click();
    await page.waitForFunction((el) => el.getAttribute("aria-invalid") === "true", await jwkField.elementHandle());
    assert.match(await fieldErrorText(page, jwkField), /already use/);
    await jwkField.fill(JSON.stringify(second.jwk));
    await modal.getByRole("button", { name: "Rotate key" }).click();
    const done = page.getByRole("dialog", { name: "New public key in use" });
    await done.waitFor();
    assert.equal((await done.getByTestId("thumbprint-value").textContent()).trim(), thumbprint(second.jwk));
    assert.match(await done.textContent(), /previous key stays live/);
    await shot(page, "console-public-key-rotated");
    await done.getByRole("button", { name: "Done" }).click();
    await done.waitFor({ state: "detached" });
    // Both keys live, current first.
    await row().getByTestId("rotating-hint").filter({ hasText: "2 live keys" }).waitFor();
    const thumbs = await row().getByTestId("row-thumbprint").allTextContents();
    assert.deepEqual(thumbs.map((t) => t.trim()), [thumbprint(second.jwk), thumbprint(first.jwk)]);
    assert.deepEqual(await row().getByTestId("row-key").evaluateAll((els) => els.map((el) => el.textContent.startsWith("Previous"))), [false, true]);
    // Retiring the previous key leaves the new one.
    await row().getByTestId("row-more").click();
    await row().getByRole("menuitem", { name: "Retire previous key" }).click();
    await page.getByTestId("retire-dialog-confirm").click();
    await row().getByTestId("rotating-hint").waitFor({ state: "detached" });
    assert.deepEqual((await row().getByTestId("row-thumbprint").allTextContents()).map((t) => t.trim()), [thumbprint(second.jwk)]);
  });

  test("no page errors", () => {
    assert.deepEqual(page.errors, []);
  });
});

describe("console: a public key without the WASM module", () => {
  const c = env("adminUrl", "org", "adminToken", "adminEmail");
  let page;
  before(async () => {
    page = await newPage(browser);
    await page.route("**/pkg/**", (route) => route.abort());
    await signIn(page, c, c.adminToken);
  });
  after(async () => {
    await page?.context().close();
  });

  test("the server's 422 on a private JWK shows by the field", async () => {
    const pair = keyPair("EdDSA");
    await page.getByTestId("create-new").click();
    const modal = page.getByRole("dialog", { name: "Create client credentials" });
    await modal.waitFor();
    await modal.getByLabel("Name", { exact: true }).fill(`No module key ${unique()}`);
    await modal.getByTestId("create-owner").selectOption(c.adminEmail);
    await modal.getByRole("radio", { name: /^My own public key/ }).check();
    const jwkField = modal.getByLabel("Public key (JWK)");
    await jwkField.fill(JSON.stringify(pair.privateJwk));
    await modal.getByRole("button", { name: "Create", exact: true }).click();
    await page.waitForFunction((el) => el.getAttribute("aria-invalid") === "true", await jwkField.elementHandle());
    const message = await fieldErrorText(page, jwkField);
    assert.match(message, /private key/);
    assert.ok(!message.includes(pair.privateJwk.d));
    // The public key goes through; the answer has no secret.
    await jwkField.fill(JSON.stringify(pair.jwk));
    await modal.getByRole("button", { name: "Create", exact: true }).click();
    const done = page.getByRole("dialog", { name: "Credentials created" });
    await done.waitFor();
    assert.equal((await done.getByTestId("algorithm-value").textContent()).trim(), "EdDSA");
    assert.equal((await done.getByTestId("thumbprint-value").textContent()).trim(), thumbprint(pair.jwk));
    await done.getByRole("button", { name: "Done" }).click();
    await done.waitFor({ state: "detached" });
  });

  test("no page errors", () => {
    assert.deepEqual(page.errors, []);
  });
});
