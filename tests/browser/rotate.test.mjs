// The console's emergency rotation of an org's keys, in an org of its own
// (EMBEDGATE_ROTATE_ORG, signed in with its admin's EMBEDGATE_ROTATE_TOKEN)
// so that the other suites' credentials keep their secrets: hidden from a
// non-admin; a dialog that says what happens and needs the org's slug
// typed; the server's 422 by that field; every live credential's new
// secret shown once and downloaded as one JSON file (saved to
// EMBEDGATE_ROTATE_DOWNLOAD, where the Rust harness signs with the new
// and old secrets at the edge); closing asks first and leaves no trace;
// the list and the audit log show the rotation. A credential with the host
// app's own public key (ES256), made here, is left alone: listed apart, no
// secret, the same key after.

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import { generateKeyPairSync } from "node:crypto";
import { adminApi, env, fieldErrorText, launch, newPage, shot, signIn, traces } from "./lib.mjs";

const e = env("adminUrl", "viewerToken", "rotateOrg", "rotateToken", "rotateDownload");
const org = e.rotateOrg;
const SIZES = [
  [1024, 768],
  [1280, 800],
  [1920, 1080],
];
let browser;

before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

/** The rotation org's credentials, as its admin lists them. */
async function credentials() {
  const r = await adminApi(e, "GET", `/orgs/${org}/credentials?limit=1000`, undefined, e.rotateToken);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body.credentials;
}

/** Whether a credential signs with the host app's public key (no secret under the org's keys). */
const usesPublicKey = (c) => (c.public_keys || []).length > 0;

/** Today as YYYY-MM-DD in local time (the page's clock is this machine's). */
function today() {
  const d = new Date();
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

/** Problems with the open dialog's layout at the current viewport (empty: none). */
async function dialogLayoutProblems(page) {
  return page.evaluate(() => {
    const problems = [];
    const vw = document.documentElement.clientWidth;
    if (document.documentElement.scrollWidth > vw + 1) problems.push(`the page scrolls sideways: ${document.documentElement.scrollWidth} > ${vw}`);
    for (const dialog of document.querySelectorAll("[role=dialog]")) {
      const r = dialog.getBoundingClientRect();
      if (r.left < 0 || r.right > vw + 1) problems.push(`a dialog is outside the viewport: ${Math.round(r.left)}..${Math.round(r.right)} of ${vw}`);
      if (dialog.scrollWidth > dialog.clientWidth + 1) problems.push(`a dialog scrolls sideways: ${dialog.scrollWidth} > ${dialog.clientWidth}`);
      for (const el of dialog.querySelectorAll(".copy-field, button, h2, h3, p, li")) {
        const b = el.getBoundingClientRect();
        if (b.width > 0 && (b.left < r.left - 1 || b.right > r.right + 1)) problems.push(`${el.tagName.toLowerCase()} "${el.textContent.trim().slice(0, 30)}" sticks out of its dialog`);
      }
    }
    return problems;
  });
}

describe("org key rotation as a non-admin member", () => {
  let page;
  before(async () => {
    page = await newPage(browser);
    await signIn(page, e, e.viewerToken);
  });
  after(async () => {
    await page?.context().close();
  });

  test("the action is not shown", async () => {
    await page.getByTestId("readonly-note").waitFor();
    assert.equal(await page.getByTestId("danger-zone").isVisible(), false);
    assert.equal(await page.getByTestId("rotate-org-keys").isVisible(), false);
    assert.equal(await page.getByRole("button", { name: /Rotate org keys/ }).count(), 0);
    assert.equal(await page.getByRole("heading", { name: "Emergency" }).count(), 0);
    assert.deepEqual(page.errors, []);
  });
});

describe("org key rotation as an admin", () => {
  let page;
  let live;
  let revoked;
  let ownKeys;
  let shown;
  const posts = [];

  before(async () => {
    const jwk = generateKeyPairSync("ec", { namedCurve: "P-256" }).publicKey.export({ format: "jwk" });
    const me = await adminApi(e, "GET", "/me", undefined, e.rotateToken);
    const made = await adminApi(
      e,
      "POST",
      `/orgs/${org}/credentials`,
      { name: `Own key ${Date.now().toString(36)}`, owner: me.body.email, privileges: ["embedding"], public_key: jwk },
      e.rotateToken
    );
    assert.equal(made.status, 201, JSON.stringify(made.body));
    const list = await credentials();
    live = list.filter((c) => c.status !== "revoked" && !usesPublicKey(c));
    revoked = list.filter((c) => c.status === "revoked" && !usesPublicKey(c));
    ownKeys = list.filter(usesPublicKey);
    assert.ok(live.length >= 2 && revoked.length >= 1, `the harness makes live and revoked credentials in ${org}`);
    assert.ok(live.some((c) => c.live_generations.length === 2), "and one with two live secrets");
    const context = await browser.newContext({ viewport: { width: 1440, height: 900 }, deviceScaleFactor: 1, acceptDownloads: true });
    page = await newPage(browser, { context });
    page.on("request", (r) => r.method() === "POST" && r.url().endsWith("/keys/rotate") && posts.push(r.postData()));
    await signIn(page, e, e.rotateToken);
    await page.locator("[data-testid=credential-row]").first().waitFor();
  });
  after(async () => {
    await page?.context().close();
  });

  test("a separate Emergency section, after the credentials", async () => {
    const zone = page.getByTestId("danger-zone");
    await zone.waitFor();
    assert.ok(await zone.getByRole("heading", { name: "Emergency" }).isVisible());
    const button = zone.getByRole("button", { name: "Rotate org keys…" });
    assert.ok(await button.isVisible());
    const after = await page.evaluate(() => {
      const cards = document.getElementById("credentials-body").closest(".card");
      return Boolean(cards.compareDocumentPosition(document.getElementById("danger-zone")) & Node.DOCUMENT_POSITION_FOLLOWING);
    });
    assert.ok(after, "the Emergency section comes after the credentials card");
    await shot(page, "rotate-danger-zone");
  });

  test("the dialog says what happens and needs the org's slug typed", async () => {
    const opener = page.getByTestId("rotate-org-keys");
    await opener.click();
    const dialog = page.getByRole("dialog", { name: `Rotate the keys of ${org}?` });
    await dialog.waitFor();
    assert.equal(await dialog.getAttribute("aria-modal"), "true");
    const text = await dialog.textContent();
    assert.match(text, new RegExp(`each of its ${live.length} credentials gets a new embed secret`));
    assert.match(text, /stops verifying at the edges/);
    assert.match(text, /bad_signature\) until its host app signs with the new secret/);
    assert.match(text, /Open embed sessions end/);
    assert.match(text, new RegExp(`The ${revoked.length} credentials? revoked stays? revoked`));
    assert.match(text, new RegExp(`The ${ownKeys.length} credentials? with the host app's own public key \\(ES256/EdDSA\\) (is|are) left alone`));
    assert.match(text, /shown once/);
    const input = dialog.getByLabel(`Type ${org} to confirm`);
    assert.ok(await input.evaluate((el) => el === document.activeElement), "focus starts in the confirmation field");
    const confirm = dialog.getByRole("button", { name: "Rotate org keys" });
    assert.equal(await confirm.isDisabled(), true);
    for (const wrong of [org.slice(0, -1), `${org} `, ` ${org}`, org.toUpperCase(), `${org}x`]) {
      await input.fill(wrong);
      assert.equal(await confirm.isDisabled(), true, `enabled by ${JSON.stringify(wrong)}`);
      // Enter does not confirm either.
      await input.press("Enter");
    }
    await input.fill(org);
    assert.equal(await confirm.isDisabled(), false);
    await shot(page, "rotate-confirm-dialog");
    for (let i = 0; i < 8; i += 1) {
      await page.keyboard.press("Tab");
      assert.ok(await dialog.evaluate((el) => el.contains(document.activeElement)), "focus left the dialog");
    }
    await page.keyboard.press("Escape");
    await dialog.waitFor({ state: "detached" });
    assert.ok(await opener.evaluate((el) => el === document.activeElement), "focus did not return to Rotate org keys");
    assert.deepEqual(posts, [], "nothing may be sent before the rotation is confirmed");
  });

  test("the dialog and the section at 1024, 1280 and 1920 px", async () => {
    await page.getByTestId("rotate-org-keys").click();
    const dialog = page.getByRole("dialog", { name: `Rotate the keys of ${org}?` });
    await dialog.waitFor();
    for (const [width, height] of SIZES) {
      await page.setViewportSize({ width, height });
      assert.deepEqual(await dialogLayoutProblems(page), [], `at ${width}×${height}`);
      await shot(page, `rotate-confirm-dialog-${width}x${height}`);
    }
    await page.keyboard.press("Escape");
    await dialog.waitFor({ state: "detached" });
    for (const [width, height] of SIZES) {
      await page.setViewportSize({ width, height });
      const problems = await page.evaluate(() => {
        const out = [];
        const vw = document.documentElement.clientWidth;
        if (document.documentElement.scrollWidth > vw + 1) out.push(`the page scrolls sideways: ${document.documentElement.scrollWidth} > ${vw}`);
        const zone = document.getElementById("danger-zone").getBoundingClientRect();
        const button = document.getElementById("rotate-org-keys").getBoundingClientRect();
        if (button.right > zone.right || button.left < zone.left) out.push("the button sticks out of the Emergency section");
        if (button.height > 48) out.push(`the button wraps (${button.height} px)`);
        return out;
      });
      assert.deepEqual(problems, [], `at ${width}×${height}`);
    }
    await page.setViewportSize({ width: 1440, height: 900 });
  });

  test("the server's 422 shows by the confirmation field", async () => {
    await page.getByTestId("rotate-org-keys").click();
    const dialog = page.getByRole("dialog", { name: `Rotate the keys of ${org}?` });
    const input = dialog.getByLabel(`Type ${org} to confirm`);
    await input.fill(org);
    // The request leaves with another slug, as a stale page could send: the real server answers.
    await page.route("**/keys/rotate", (route) => route.continue({ postData: JSON.stringify({ confirm: `${org}-other` }) }));
    await dialog.getByRole("button", { name: "Rotate org keys" }).click();
    await page.waitForFunction((el) => el.getAttribute("aria-invalid") === "true", await input.elementHandle());
    assert.equal(await fieldErrorText(page, input), "confirm must repeat the org's slug exactly");
    assert.ok(await input.evaluate((el) => el === document.activeElement));
    assert.ok(await dialog.isVisible(), "the dialog stays open");
    await shot(page, "rotate-confirm-422");
    await page.unroute("**/keys/rotate");
    // Nothing was rotated.
    for (const c of await credentials()) {
      const before = [...live, ...revoked, ...ownKeys].find((x) => x.client_id === c.client_id);
      assert.deepEqual(c.live_generations, before.live_generations, "refused: nothing rotated");
    }
    // Typing clears the error.
    await input.fill(org);
    assert.equal(await input.getAttribute("aria-invalid"), null);
    await page.keyboard.press("Escape");
    await dialog.waitFor({ state: "detached" });
  });

  test("rotates: every live credential's new secret shown once", async () => {
    await page.getByTestId("rotate-org-keys").click();
    const dialog = page.getByRole("dialog", { name: `Rotate the keys of ${org}?` });
    await dialog.getByLabel(`Type ${org} to confirm`).fill(org);
    const sent = posts.length;
    await dialog.getByRole("button", { name: "Rotate org keys" }).click();
    const modal = page.getByRole("dialog", { name: "New embed secrets" });
    await modal.waitFor();
    await dialog.waitFor({ state: "detached" });
    assert.deepEqual(posts.slice(sent).map((b) => JSON.parse(b)), [{ confirm: org }]);
    assert.ok(await modal.getByTestId("rotated-download").evaluate((el) => el === document.activeElement), "focus starts on Download");
    assert.match(await modal.textContent(), /only time these embed secrets are shown/);
    const items = modal.getByTestId("rotated-credential");
    shown = [];
    for (let i = 0; i < (await items.count()); i += 1) {
      const item = items.nth(i);
      shown.push({
        client_id: (await item.getByTestId("rotated-client-id").textContent()).trim(),
        name: (await item.locator(".cred-name").textContent()).trim(),
        generation: Number((await item.textContent()).match(/Secret generation (\d+)/)[1]),
        secret: (await item.getByTestId("rotated-secret").textContent()).trim(),
      });
      assert.equal(await item.getAttribute("data-client-id"), shown[i].client_id);
    }
    assert.deepEqual(shown.map((s) => s.client_id).sort(), live.map((c) => c.client_id).sort(), "every live credential, once");
    for (const s of shown) {
      const before = live.find((c) => c.client_id === s.client_id);
      assert.equal(s.name, before.name);
      assert.match(s.secret, /^egs_/);
      assert.ok(s.generation > Math.max(...before.live_generations), `${s.name}: a new generation`);
    }
    assert.equal(new Set(shown.map((s) => s.secret)).size, shown.length, "distinct secrets");
    // The revoked ones: listed, without a secret.
    const revokedItems = modal.getByTestId("rotated-revoked");
    assert.deepEqual((await revokedItems.evaluateAll((els) => els.map((el) => el.dataset.clientId))).sort(), revoked.map((c) => c.client_id).sort());
    assert.doesNotMatch(await modal.getByTestId("rotated-revoked-list").textContent(), /egs_/);
    // The public-key ones: listed apart, without a secret.
    const ownItems = modal.getByTestId("rotated-public-key");
    assert.deepEqual((await ownItems.evaluateAll((els) => els.map((el) => el.dataset.clientId))).sort(), ownKeys.map((c) => c.client_id).sort());
    assert.doesNotMatch(await modal.getByTestId("rotated-public-key-list").textContent(), /egs_/);
    await shot(page, "rotate-secrets-modal");
    for (const [width, height] of SIZES) {
      await page.setViewportSize({ width, height });
      assert.deepEqual(await dialogLayoutProblems(page), [], `at ${width}×${height}`);
      await shot(page, `rotate-secrets-modal-${width}x${height}`);
    }
    await page.setViewportSize({ width: 1440, height: 900 });
  });

  test("closing before the download asks first, and Keep keeps them", async () => {
    const modal = page.getByRole("dialog", { name: "New embed secrets" });
    await page.keyboard.press("Escape");
    const guard = page.getByRole("dialog", { name: "Close the new secrets?" });
    await guard.waitFor();
    assert.match(await guard.textContent(), /will not be shown again/);
    assert.match(await guard.textContent(), /You have not downloaded them/);
    assert.equal(await guard.getByRole("button", { name: "Close without saving" }).count(), 1);
    assert.ok(await guard.getByRole("button", { name: "Keep them shown" }).evaluate((el) => el === document.activeElement));
    await shot(page, "rotate-close-guard");
    await guard.getByRole("button", { name: "Keep them shown" }).click();
    await guard.waitFor({ state: "detached" });
    assert.ok(await modal.isVisible());
    assert.equal((await modal.getByTestId("rotated-secret").first().textContent()).trim(), shown[0].secret);
    assert.ok(await modal.evaluate((el) => el.contains(document.activeElement)), "focus back in the secrets' modal");
  });

  test("Download saves exactly the secrets shown as one JSON file", async () => {
    const modal = page.getByRole("dialog", { name: "New embed secrets" });
    // Watch the object URLs the page makes and revokes.
    await page.evaluate(() => {
      window.__urls = { made: [], revoked: [] };
      const make = URL.createObjectURL.bind(URL);
      const revoke = URL.revokeObjectURL.bind(URL);
      URL.createObjectURL = (blob) => {
        const url = make(blob);
        window.__urls.made.push(url);
        return url;
      };
      URL.revokeObjectURL = (url) => {
        window.__urls.revoked.push(url);
        revoke(url);
      };
    });
    const [download] = await Promise.all([page.waitForEvent("download"), modal.getByTestId("rotated-download").click()]);
    assert.equal(download.suggestedFilename(), `embedgate-${org}-secrets-${today()}.json`);
    assert.equal(await download.failure(), null);
    await download.saveAs(e.rotateDownload);
    const text = fs.readFileSync(e.rotateDownload, "utf8");
    const saved = JSON.parse(text);
    assert.deepEqual(saved, shown, "the file holds exactly the secrets shown, in order");
    for (const row of saved) assert.deepEqual(Object.keys(row), ["client_id", "name", "generation", "secret"]);
    const urls = await page.evaluate(() => window.__urls);
    assert.equal(urls.made.length, 1);
    assert.match(urls.made[0], /^blob:/);
    assert.deepEqual(urls.revoked, urls.made, "the object URL is revoked");
    assert.equal(await page.locator("a[download]").count(), 0, "no link left behind");
    assert.match(await modal.getByTestId("rotated-download").textContent(), /Downloaded/);
  });

  test("closing asks again, then removes every secret from the page", async () => {
    const modal = page.getByRole("dialog", { name: "New embed secrets" });
    await modal.getByRole("button", { name: "Done" }).click();
    const guard = page.getByRole("dialog", { name: "Close the new secrets?" });
    await guard.waitFor();
    assert.match(await guard.textContent(), /You downloaded them \(embedgate-/);
    await guard.getByRole("button", { name: "Close the secrets" }).click();
    await guard.waitFor({ state: "detached" });
    await modal.waitFor({ state: "detached" });
    assert.ok(await page.getByTestId("rotate-org-keys").evaluate((el) => el === document.activeElement), "focus back on Rotate org keys");
    for (const s of shown) {
      const found = await traces(page, s.secret);
      assert.deepEqual(found, [], `${s.name}'s new secret is still in: ${found.join(", ")}`);
    }
    const stored = await page.evaluate(() => ({ local: localStorage.length, session: Object.values({ ...sessionStorage }).join("\n"), history: history.length, href: location.href }));
    assert.equal(stored.local, 0);
    assert.doesNotMatch(stored.session, /egs_/);
    assert.doesNotMatch(stored.href, /egs_/);
  });

  test("the list is refreshed and the audit log names the rotation", async () => {
    // The credential that had two live secrets has one now.
    for (const c of live) {
      const row = page.locator(`[data-testid=credential-row][data-client-id="${c.client_id}"]`);
      await row.waitFor();
      await row.getByTestId("rotating-hint").waitFor({ state: "detached" });
    }
    await page.getByRole("tab", { name: "Audit log" }).click();
    const first = page.getByTestId("audit-row").first();
    await first.waitFor();
    const text = await first.textContent();
    assert.match(text, /Org keys rotated \(emergency\)/);
    assert.match(text, /org\.key_rotate/);
    assert.match(text, /epoch: 2/);
    assert.match(text, new RegExp(`credentials: ${live.length + revoked.length}`));
    // The public-key credentials keep their keys.
    const after = await credentials();
    for (const c of ownKeys) {
      const now = after.find((x) => x.client_id === c.client_id);
      assert.deepEqual(now.public_keys, c.public_keys, `${c.name}: the same key`);
    }
    for (const s of shown) assert.ok(!(await page.content()).includes(s.secret));
    await shot(page, "rotate-audit");
    await page.getByRole("tab", { name: "Credentials" }).click();
  });

  test("no page errors", () => {
    assert.deepEqual(page.errors, []);
  });
});
