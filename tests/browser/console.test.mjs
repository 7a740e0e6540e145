// The Developer Access console (/): an admin creates credentials and sees
// the secret once, with no trace of it left after the modal closes; a
// non-admin member gets a read-only view.

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createCredential, env, launch, newPage, shot, signIn, unique } from "./lib.mjs";

const e = env("adminUrl", "org", "adminToken", "adminEmail", "viewerToken");
let browser;

before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

describe("console as an admin", () => {
  let page;
  const name = `Browser test ${unique()}`;
  let created;

  before(async () => {
    page = await newPage(browser);
    await signIn(page, e, e.adminToken);
  });
  after(async () => {
    await page?.context().close();
  });

  test("shows the admin view", async () => {
    await page.getByTestId("create-new").waitFor();
    assert.equal(await page.getByTestId("readonly-note").isVisible(), false);
    assert.equal(await page.getByTestId("org-name").textContent(), e.org);
    await shot(page, "console-list");
  });

  test("the create modal validates, traps focus and closes on Escape", async () => {
    const opener = page.getByTestId("create-new");
    await opener.click();
    const modal = page.getByRole("dialog", { name: "Create client credentials" });
    await modal.waitFor();
    assert.equal(await modal.getAttribute("aria-modal"), "true");
    // Empty name and no owner: client-side errors next to the fields.
    await modal.getByRole("button", { name: "Create", exact: true }).click();
    assert.equal(await modal.getByLabel("Name", { exact: true }).getAttribute("aria-invalid"), "true");
    assert.equal(await modal.getByLabel("Owner").getAttribute("aria-invalid"), "true");
    await shot(page, "console-create-errors");
    // Focus stays inside while tabbing around.
    for (let i = 0; i < 15; i += 1) {
      await page.keyboard.press("Tab");
      assert.ok(await modal.evaluate((el) => el.contains(document.activeElement)), "focus left the modal");
    }
    await page.keyboard.press("Escape");
    await modal.waitFor({ state: "detached" });
    assert.ok(await opener.evaluate((el) => el === document.activeElement), "focus did not return to Create New");
  });

  test("creates credentials and shows the secret once", async () => {
    await page.getByTestId("create-new").click();
    await page.getByRole("dialog", { name: "Create client credentials" }).waitFor();
    await shot(page, "console-create");
    await page.keyboard.press("Escape");
    created = await createCredential(page, { name, owner: e.adminEmail, description: "Made by the browser tests" });
    assert.match(created.secret, /^egs_/);
    assert.match(created.clientId, /^[0-9a-f]{32,}$/);
    await shot(page, "console-secret-modal");
    await created.modal.getByRole("button", { name: "Done" }).click();
    await created.modal.waitFor({ state: "detached" });
  });

  test("no trace of the secret remains after the modal closes", async () => {
    const { secret } = created;
    const found = await page.evaluate((s) => {
      const where = [];
      if (document.documentElement.outerHTML.includes(s)) where.push("outerHTML");
      for (const store of [localStorage, sessionStorage]) {
        for (let i = 0; i < store.length; i += 1) {
          const k = store.key(i);
          if (k.includes(s) || (store.getItem(k) || "").includes(s)) where.push(store === localStorage ? "localStorage" : "sessionStorage");
        }
      }
      if (location.href.includes(s)) where.push("location.href");
      if (JSON.stringify(history.state ?? null).includes(s)) where.push("history.state");
      if (document.title.includes(s)) where.push("title");
      for (const el of document.querySelectorAll("input, textarea, select")) {
        if ((el.value || "").includes(s)) where.push(`value of ${el.name || el.id}`);
      }
      if (document.body.innerText.includes(s)) where.push("innerText");
      return where;
    }, secret);
    assert.deepEqual(found, [], `the secret is still in: ${found.join(", ")}`);
  });

  test("the new row appears with its client ID", async () => {
    const row = page.locator(`[data-testid=credential-row][data-client-id="${created.clientId}"]`);
    await row.waitFor();
    assert.equal((await row.getByTestId("row-client-id").textContent()).trim(), created.clientId);
    assert.ok((await row.textContent()).includes(name));
    assert.ok((await row.textContent()).includes("Never"), "last used should be Never");
    await shot(page, "console-list-created");
  });

  test("a taken name is shown on the Name field", async () => {
    await page.getByTestId("create-new").click();
    const modal = page.getByRole("dialog", { name: "Create client credentials" });
    await modal.getByLabel("Name", { exact: true }).fill(name);
    await modal.getByLabel("Owner").selectOption(e.adminEmail);
    await modal.getByRole("button", { name: "Create", exact: true }).click();
    const nameInput = modal.getByLabel("Name", { exact: true });
    await page.waitForFunction((el) => el.getAttribute("aria-invalid") === "true", await nameInput.elementHandle());
    const describedBy = await nameInput.getAttribute("aria-describedby");
    const errorText = await page.locator(`[id="${describedBy.split(" ").pop()}"]`).textContent();
    assert.match(errorText, /already exists/);
    await page.keyboard.press("Escape");
    await modal.waitFor({ state: "detached" });
  });

  test("the More menu works from the keyboard", async () => {
    const row = page.locator(`[data-testid=credential-row][data-client-id="${created.clientId}"]`);
    const more = row.getByTestId("row-more");
    assert.equal(await more.getAttribute("aria-haspopup"), "menu");
    await more.focus();
    await page.keyboard.press("ArrowDown");
    const menu = row.getByRole("menu");
    await menu.waitFor();
    assert.equal(await more.getAttribute("aria-expanded"), "true");
    const items = await menu.getByRole("menuitem").allTextContents();
    assert.deepEqual(items, ["Rotate secret", "Retire previous secret", "Revoke"]);
    assert.equal(await menu.getByRole("menuitem", { name: "Retire previous secret" }).getAttribute("aria-disabled"), "true");
    await page.keyboard.press("ArrowDown");
    assert.equal(await page.evaluate(() => document.activeElement.textContent), "Retire previous secret");
    await shot(page, "console-menu");
    await page.keyboard.press("Escape");
    await menu.waitFor({ state: "hidden" });
    assert.ok(await more.evaluate((el) => el === document.activeElement));
  });

  test("rotate shows a new secret once and enables retiring the previous one", async () => {
    const row = page.locator(`[data-testid=credential-row][data-client-id="${created.clientId}"]`);
    await row.getByTestId("row-more").click();
    await row.getByRole("menuitem", { name: "Rotate secret" }).click();
    const modal = page.getByRole("dialog", { name: "Access Credentials" });
    await modal.waitFor();
    const rotated = (await modal.getByTestId("secret-value").textContent()).trim();
    assert.match(rotated, /^egs_/);
    assert.notEqual(rotated, created.secret);
    assert.match(await modal.textContent(), /previous secret stays live/);
    await page.keyboard.press("Escape");
    await modal.waitFor({ state: "detached" });
    assert.equal(await page.evaluate((s) => document.documentElement.outerHTML.includes(s), rotated), false);
    await row.getByTestId("rotating-hint").waitFor();
    await row.getByTestId("row-more").click();
    await row.getByRole("menuitem", { name: "Retire previous secret" }).click();
    await page.getByTestId("retire-dialog-confirm").click();
    await row.getByTestId("rotating-hint").waitFor({ state: "detached" });
  });

  test("audit log and edges tabs", async () => {
    await page.getByRole("tab", { name: "Audit log" }).click();
    await page.getByTestId("audit-table").waitFor();
    assert.ok((await page.getByTestId("audit-table").textContent()).includes("credential.create"));
    await shot(page, "console-audit");
    await page.getByRole("tab", { name: "Audit log" }).focus();
    await page.keyboard.press("ArrowRight");
    assert.equal(await page.getByRole("tab", { name: "Edges" }).getAttribute("aria-selected"), "true");
    await page.locator("#edges-body table, #edges-body .empty-state").first().waitFor();
    await shot(page, "console-edges");
    await page.getByRole("tab", { name: "Credentials" }).click();
  });

  test("no page errors", () => {
    assert.deepEqual(page.errors, []);
  });
});

describe("console as a non-admin member", () => {
  let page;
  before(async () => {
    page = await newPage(browser);
    await signIn(page, e, e.viewerToken);
  });
  after(async () => {
    await page?.context().close();
  });

  test("is read-only", async () => {
    await page.getByTestId("readonly-note").waitFor();
    assert.match(await page.getByTestId("readonly-note").textContent(), /Only org admins can create, rotate or revoke them/);
    assert.equal(await page.getByTestId("create-new").isVisible(), false);
    assert.equal(await page.getByRole("button", { name: /Create New/ }).count(), 0);
    assert.equal(await page.getByTestId("row-more").count(), 0);
    assert.equal(await page.locator("[aria-haspopup=menu]").count(), 0);
    await shot(page, "console-readonly");
  });

  test("the audit tab says it is admin-only", async () => {
    await page.getByRole("tab", { name: "Audit log" }).click();
    await page.getByTestId("audit-admin-only").waitFor();
    await page.getByRole("tab", { name: "Credentials" }).click();
  });

  test("a reload keeps the session and Sign out forgets it", async () => {
    await page.reload();
    await page.getByTestId("readonly-note").waitFor();
    await page.getByTestId("signout").click();
    await page.getByRole("heading", { name: "Sign in to Developer Access" }).waitFor();
    assert.equal(await page.evaluate(() => sessionStorage.length), 0);
  });

  test("a bad token is refused at sign in", async () => {
    await page.getByLabel("Organization").fill(e.org);
    await page.getByLabel("API token").fill(`egt_${"0".repeat(64)}`);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.locator("#signin-token-error:not([hidden])").waitFor();
    assert.match(await page.locator("#signin-token-error").textContent(), /not accepted/);
    await shot(page, "console-signin-error");
  });

  test("no page errors", () => {
    assert.deepEqual(page.errors, []);
  });
});

describe("console when the token is revoked mid-session", () => {
  let page;
  const viewer = `revoked-${unique()}@example.com`;
  const admin = (method, path, body) =>
    fetch(`${e.adminUrl}/api/v1/orgs/${e.org}${path}`, {
      method,
      headers: { authorization: `Bearer ${e.adminToken}`, "content-type": "application/json" },
      body: body ? JSON.stringify(body) : undefined,
    }).then(async (r) => ({ status: r.status, body: await r.json() }));

  after(async () => {
    await page?.context().close();
  });

  test("goes back to sign in with a message", async () => {
    assert.equal((await admin("POST", "/members", { email: viewer, account_type: "viewer" })).status, 201);
    const issued = await admin("POST", `/members/${viewer}/tokens`);
    assert.equal(issued.status, 201);
    page = await newPage(browser);
    await signIn(page, e, issued.body.token);
    const revoked = await admin("POST", `/members/${viewer}/tokens/${issued.body.id}/revoke`);
    assert.equal(revoked.status, 200);
    await page.getByRole("tab", { name: "Edges" }).click();
    await page.getByRole("heading", { name: "Sign in to Developer Access" }).waitFor();
    assert.match(await page.locator("#signin-message").textContent(), /session ended/);
    assert.equal(await page.evaluate(() => sessionStorage.length), 0);
    await shot(page, "console-session-ended");
    assert.deepEqual(page.errors, []);
  });
});
