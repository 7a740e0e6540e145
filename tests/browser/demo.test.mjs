// The host-app demo (/demo) with a real edge: credentials created in the
// console sign an embed the edge verifies; revoking them in the console
// ends the open embed within a second, and a fresh load is refused.

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { configureDemoHost, createCredential, env, launch, newPage, shot, signIn, unique } from "./lib.mjs";

const e = env("adminUrl", "edgeUrl", "org", "adminToken", "adminEmail");
let browser;

before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

describe("host-app demo", () => {
  let context;
  let consolePage;
  let demo;
  let cred;
  const sub = `embed-user-${unique()}@example.com`;

  before(async () => {
    // Two contexts, so each page has a window of its own: a page in a background tab gets no
    // animation frames, which slows every click there by seconds.
    consolePage = await newPage(browser);
    context = await browser.newContext({ viewport: { width: 1440, height: 900 } });
    demo = await newPage(browser, { context });
    await signIn(consolePage, e, e.adminToken);
    // The demo host frames the embeds: its origin must be allowed (framing is denied by default).
    cred = await createCredential(consolePage, { name: `Demo host ${unique()}`, owner: e.adminEmail, origins: [new URL(e.adminUrl).origin] });
    await cred.modal.getByRole("button", { name: "Done" }).click();
    await cred.modal.waitFor({ state: "detached" });
  });
  after(async () => {
    await consolePage?.context().close();
    await context?.close();
  });

  test("configures the host app; the secret input is cleared", async () => {
    await configureDemoHost(demo, e, cred);
    assert.equal(await demo.getByTestId("config-badge").textContent(), "Configured");
    assert.equal(await demo.getByLabel("Embed secret").inputValue(), "");
    assert.equal(await demo.evaluate((s) => document.documentElement.outerHTML.includes(s), cred.secret), false);
  });

  test("loads an embed the edge verifies", async () => {
    await demo.getByLabel("User email").fill(sub);
    await demo.getByRole("button", { name: "Load embed" }).click();
    const status = demo.getByTestId("embed-status");
    await demo.locator('[data-testid=embed-status][data-state=ok][data-load="1"]').waitFor({ timeout: 10000 });
    assert.equal((await status.textContent()).trim(), `Verified: ${sub}`);
    const shown = await demo.getByTestId("signed-url").textContent();
    assert.ok(shown.startsWith(`${e.edgeUrl}/${e.org}/workbook/`), shown);
    assert.match(shown, /:jwt=eyJ…\(truncated\)&:embed=true$/);
    assert.equal(await demo.getByTestId("embed-frame").getAttribute("title"), "Embedded workbook");
    await demo.waitForTimeout(300); // let the frame paint for the screenshot
    await shot(demo, "demo-verified");
  });

  test("revoking in the console ends the open embed within a second", async () => {
    const row = consolePage.locator(`[data-testid=credential-row][data-client-id="${cred.clientId}"]`);
    await row.getByTestId("row-more").click();
    await row.getByRole("menuitem", { name: "Revoke" }).click();
    const dialog = consolePage.getByTestId("revoke-dialog");
    await dialog.waitFor();
    assert.match(await dialog.textContent(), /stops working immediately, including embeds already open\. This cannot be undone\./);
    await shot(consolePage, "console-revoke-confirm");
    const revoked = consolePage.waitForResponse(
      (r) => r.request().method() === "POST" && r.url().endsWith(`/credentials/${cred.clientId}/revoke`)
    );
    await consolePage.getByTestId("revoke-dialog-confirm").click();
    const resp = await revoked;
    const t0 = Date.now();
    assert.equal(resp.status(), 200);
    await demo.locator("[data-testid=embed-error-code]", { hasText: "credential_revoked" }).waitFor({ timeout: 5000 });
    const elapsed = Date.now() - t0;
    assert.equal((await demo.getByTestId("embed-error-code").textContent()).trim(), "credential_revoked");
    assert.ok(elapsed < 1000, `the demo showed credential_revoked ${elapsed} ms after the revoke answered`);
    console.log(`# revoke → embed ended in ${elapsed} ms`);
    await shot(demo, "demo-revoked");
    await row.locator("text=Revoked").first().waitFor();
    assert.equal(await row.getByTestId("row-more").count(), 0);
  });

  test("a fresh embed after revocation is refused", async () => {
    await demo.getByRole("button", { name: "Load embed" }).click();
    await demo.locator('[data-testid=embed-status][data-state=error][data-load="2"]').waitFor({ timeout: 10000 });
    assert.equal((await demo.getByTestId("embed-error-code").textContent()).trim(), "credential_revoked");
    assert.match(await demo.getByTestId("embed-error-explain").textContent(), /revoked/);
  });

  test("no page errors", () => {
    assert.deepEqual(consolePage.errors, []);
    assert.deepEqual(demo.errors, []);
  });
});
