// The Developer Access console (/): sign in with the token alone; an admin
// creates credentials and sees the secret once, with no trace of it left
// after the modal closes; the forms check fields with the WASM module's
// rules (and still work, with the server's answers, without it); a
// non-admin member gets a read-only view; a credential whose owner is
// deactivated shows as owner_inactive.

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createCredential, env, fieldErrorText, invitedToken, launch, newPage, orgApi, shot, signIn, traces, unique } from "./lib.mjs";

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

  test("signs in with the token alone and shows the admin view", async () => {
    await page.getByTestId("create-new").waitFor();
    assert.equal(await page.getByTestId("readonly-note").isVisible(), false);
    // The org and the email come from GET /api/v1/me.
    assert.equal(await page.getByTestId("org-name").textContent(), e.org);
    assert.equal(await page.getByTestId("me-email").textContent(), e.adminEmail);
    assert.equal(await page.getByTestId("role-badge").textContent(), "Admin");
    // Only the token is kept, and only in this tab.
    const stored = await page.evaluate(() => ({ session: { ...sessionStorage }, local: localStorage.length }));
    assert.equal(stored.local, 0);
    assert.deepEqual(Object.values(stored.session).map((v) => Object.keys(JSON.parse(v))), [["token"]]);
    await shot(page, "console-list");
  });

  test("the create modal validates, traps focus and closes on Escape", async () => {
    const opener = page.getByTestId("create-new");
    await opener.click();
    const modal = page.getByRole("dialog", { name: "Create client credentials" });
    await modal.waitFor();
    assert.equal(await modal.getAttribute("aria-modal"), "true");
    // Empty name and no owner: the module's sentences next to the fields, and nothing is sent.
    const posts = [];
    const onRequest = (r) => r.method() === "POST" && posts.push(r.url());
    page.on("request", onRequest);
    await modal.getByRole("button", { name: "Create", exact: true }).click();
    const nameInput = modal.getByLabel("Name", { exact: true });
    assert.equal(await nameInput.getAttribute("aria-invalid"), "true");
    assert.equal(await modal.getByTestId("create-owner").getAttribute("aria-invalid"), "true");
    assert.equal(await fieldErrorText(page, nameInput), "name must be 1 to 100 characters (trimmed), without control or bidirectional-override characters");
    assert.ok(await nameInput.evaluate((el) => el === document.activeElement), "focus should go to the first field in error");
    await shot(page, "console-create-errors");
    // The limits in the hints are the module's.
    await modal.getByText("Advanced").click();
    assert.match(await modal.textContent(), /up to 2592000 \(30 days\)/);
    // A lifetime out of range and an origin with a path: the sentences the server's 422 gives, before any request.
    const lifetime = modal.getByLabel(/^Max token lifetime/);
    await lifetime.fill("0");
    await lifetime.blur();
    assert.equal(await fieldErrorText(page, lifetime), "max_token_lifetime_s must be an integer from 1 to 2592000");
    const origins = modal.getByLabel(/^Allowed origins/);
    await origins.fill("https://ok.example.com\nhttps://bad.example.com/path");
    await origins.blur();
    assert.match(
      await fieldErrorText(page, origins),
      /^allowed_origins must be an array of at most 50 entries: http\(s\) origins without a path, 'self', or "\*" alone\. Line 2 is the first one refused\.$/
    );
    // Any website may frame only when said, and the console says what that risks.
    assert.match(await modal.textContent(), /Empty: no page may frame them\./);
    const anyOrigin = modal.getByTestId("create-any-origin");
    const anyWarning = modal.getByTestId("create-any-origin-warning");
    assert.equal(await anyWarning.isVisible(), false);
    await anyOrigin.check();
    assert.match(await anyWarning.textContent(), /Any website will be able to frame these embeds/);
    assert.equal(await anyWarning.isVisible(), true);
    assert.equal(await origins.isDisabled(), true);
    await anyOrigin.uncheck();
    assert.equal(await anyWarning.isVisible(), false);
    // Fixing a field clears its error as it is typed.
    await lifetime.fill("600");
    assert.equal(await lifetime.getAttribute("aria-invalid"), null);
    await shot(page, "console-create-rule-errors");
    await origins.fill("");
    await lifetime.fill("");
    page.off("request", onRequest);
    assert.deepEqual(posts, [], "nothing may be sent while the module refuses the form");
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
    const found = await traces(page, created.secret);
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
    await modal.getByTestId("create-owner").selectOption(e.adminEmail);
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
    assert.equal(await page.getByRole("tab", { name: "Embed users" }).getAttribute("aria-selected"), "true");
    // The table once an edge reported a load, else the empty state; the filter lists the credentials.
    await page.locator("#embed-users-body table, #embed-users-body .empty-state").first().waitFor();
    assert.ok((await page.getByTestId("embed-users-filter").locator("option").count()) >= 2);
    await shot(page, "console-embed-users");
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
    assert.equal(await page.getByTestId("role-badge").textContent(), "Viewer · read-only");
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

  test("the sign-in page asks for the token alone", async () => {
    assert.equal(await page.getByLabel("Organization").count(), 0);
    assert.equal(await page.locator("#signin-form input:not([type=hidden])").count(), 1);
    assert.ok(await page.getByLabel("API token").evaluate((el) => el === document.activeElement));
    // An embed secret is not a member token: said without asking the server.
    await page.getByLabel("API token").fill("egs_not-a-member-token");
    await page.getByRole("button", { name: "Sign in" }).click();
    assert.match(await page.locator("#signin-token-error").textContent(), /start with egt_/);
  });

  test("a bad token is refused at sign in", async () => {
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
  const admin = (method, path, body) => orgApi(e, method, path, body);

  after(async () => {
    await page?.context().close();
  });

  test("goes back to sign in with a message", async () => {
    assert.equal((await admin("POST", "/members", { email: viewer, account_type: "viewer" })).status, 201);
    const issued = await invitedToken(e, viewer);
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

describe("a credential whose owner is deactivated", () => {
  let page;
  const owner = `owner-${unique()}@example.com`;
  let cred;

  before(async () => {
    assert.equal((await orgApi(e, "POST", "/members", { email: owner, account_type: "creator" })).status, 201);
    const made = await orgApi(e, "POST", "/credentials", { name: `Inactive owner ${unique()}`, owner, privileges: ["embedding"] });
    assert.equal(made.status, 201);
    cred = made.body;
    assert.equal(cred.status, "active");
    assert.equal((await orgApi(e, "POST", `/members/${owner}/deactivate`)).status, 200);
    // An active one beside it, to compare.
    assert.equal((await orgApi(e, "POST", "/credentials", { name: `Active beside ${unique()}`, owner: e.adminEmail, privileges: ["embedding"] })).status, 201);
    page = await newPage(browser);
    await signIn(page, e, e.adminToken);
  });
  after(async () => {
    await page?.context().close();
  });

  test("shows owner_inactive distinctly, with why, and offers no rotate", async () => {
    const row = page.locator(`[data-testid=credential-row][data-client-id="${cred.client_id}"]`);
    await row.waitFor();
    assert.equal(await row.getAttribute("data-status"), "owner_inactive");
    const badge = row.getByTestId("cred-status");
    assert.equal((await badge.textContent()).trim(), "Owner inactive");
    assert.match(await row.getByTestId("owner-inactive-note").textContent(), /Owner deactivated: the edges refuse its tokens\. Reactivation is not possible from the console\./);
    assert.match(await row.textContent(), /Creator · deactivated/);
    // The three statuses look different.
    const colors = await page.evaluate(() => {
      const out = {};
      for (const b of document.querySelectorAll("[data-testid=cred-status]")) out[b.dataset.status] = getComputedStyle(b).color;
      return out;
    });
    assert.ok(colors.owner_inactive && colors.active && colors.owner_inactive !== colors.active, JSON.stringify(colors));
    if (colors.revoked) assert.notEqual(colors.owner_inactive, colors.revoked);
    assert.match(await page.getByTestId("cred-count").textContent(), /\d+ owner inactive/);
    // Only Revoke is offered.
    await row.getByTestId("row-more").click();
    const items = await row.getByRole("menu").getByRole("menuitem").allTextContents();
    assert.deepEqual(items, ["Revoke"]);
    await page.keyboard.press("Escape");
    await shot(page, "console-owner-inactive");
    // Rotating it is refused by nothing in the console: there is no way to ask.
    assert.equal(await row.getByRole("menuitem", { name: "Rotate secret" }).count(), 0);
    assert.deepEqual(page.errors, []);
  });
});

describe("console without the WASM module", () => {
  let page;
  const name = `No module ${unique()}`;
  before(async () => {
    page = await newPage(browser);
    // As if `cargo xtask www` had not been run, or the module were blocked.
    await page.route("**/pkg/**", (route) => route.abort());
    await signIn(page, e, e.adminToken);
  });
  after(async () => {
    await page?.context().close();
  });

  test("the create form still works: the server's 422 shows by the field", async () => {
    await page.getByTestId("create-new").click();
    const modal = page.getByRole("dialog", { name: "Create client credentials" });
    await modal.waitFor();
    await modal.getByRole("button", { name: "Create", exact: true }).click();
    const nameInput = modal.getByLabel("Name", { exact: true });
    await page.waitForFunction((el) => el.getAttribute("aria-invalid") === "true", await nameInput.elementHandle());
    assert.equal(await fieldErrorText(page, nameInput), "name is required");
    await nameInput.fill(name);
    await modal.getByTestId("create-owner").selectOption(e.adminEmail);
    await modal.getByText("Advanced").click();
    const lifetime = modal.getByLabel(/^Max token lifetime/);
    await lifetime.fill("0");
    await modal.getByRole("button", { name: "Create", exact: true }).click();
    await page.waitForFunction((el) => el.getAttribute("aria-invalid") === "true", await lifetime.elementHandle());
    assert.equal(await fieldErrorText(page, lifetime), "max_token_lifetime_s must be an integer from 1 to 2592000");
    await shot(page, "console-no-module-422");
    await lifetime.fill("");
    await modal.getByRole("button", { name: "Create", exact: true }).click();
    const secretModal = page.getByRole("dialog", { name: "Access Credentials" });
    await secretModal.waitFor();
    await secretModal.getByRole("button", { name: "Done" }).click();
    await secretModal.waitFor({ state: "detached" });
  });

  test("the People forms still work", async () => {
    await page.getByTestId("nav-people").click();
    await page.getByTestId("people-table").waitFor();
    await page.getByTestId("add-member").click();
    const modal = page.getByRole("dialog", { name: "Add a member" });
    await modal.getByLabel("Email").fill("not-an-email");
    await modal.getByRole("button", { name: "Add member" }).click();
    const email = modal.getByLabel("Email");
    await page.waitForFunction((el) => el.getAttribute("aria-invalid") === "true", await email.elementHandle());
    assert.equal(await fieldErrorText(page, email), "email must be an email address");
    // The account types are offered without the module too.
    assert.ok((await modal.getByRole("radio").count()) >= 2);
    await page.keyboard.press("Escape");
    await modal.waitFor({ state: "detached" });
  });

  test("no page errors", () => {
    assert.deepEqual(page.errors, []);
  });
});
