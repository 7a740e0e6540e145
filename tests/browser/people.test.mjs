// The People pages of the console (#people, #people/<email>): an admin adds
// a member, changes their account type, invites them (a code shown once,
// which they redeem for an API token of their own: an admin cannot issue
// one for them), the member signs in with it elsewhere (read-only, then admin when
// promoted), the token is revoked and that session ends, and deactivating
// a member who owns a credential makes it owner_inactive.

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { adminApi, createCredential, env, fieldErrorText, invitedToken, launch, newPage, orgApi, shot, signIn, traces, unique } from "./lib.mjs";

const e = env("adminUrl", "org", "adminToken", "adminEmail");
let browser;

before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

describe("People", () => {
  let page;
  let other;
  const email = `person-${unique()}@example.com`;
  const credName = `Owned by a person ${unique()}`;
  let token;
  let tokenId;
  let secondToken;

  const row = (who) => page.locator(`[data-testid=member-row][data-email="${who}"]`);
  const manage = async (who, item) => {
    await row(who).getByTestId("member-more").click();
    await row(who).getByRole("menuitem", { name: item }).click();
  };
  const changeType = async (to) => {
    const modal = page.getByTestId("change-type-modal");
    await modal.waitFor();
    await modal.getByRole("radio", { name: new RegExp(`^${to}`) }).check();
    await modal.getByRole("button", { name: "Save" }).click();
    return modal;
  };

  before(async () => {
    page = await newPage(browser);
    await signIn(page, e, e.adminToken);
  });
  after(async () => {
    await other?.context().close();
    await page?.context().close();
  });

  test("the People page lists the members; an admin may manage them", async () => {
    await page.getByTestId("nav-people").click();
    await page.getByTestId("people-table").waitFor();
    assert.equal(await page.getByTestId("nav-people").getAttribute("aria-current"), "page");
    assert.ok(await page.getByRole("heading", { name: "People", level: 1 }).evaluate((el) => el === document.activeElement), "focus moves to the page's heading");
    assert.ok(page.url().endsWith("#people"));
    const me = row(e.adminEmail);
    assert.match(await me.textContent(), /You/);
    assert.match(await me.textContent(), /Admin/);
    assert.equal(await page.getByTestId("add-member").isVisible(), true);
    assert.equal(await page.getByTestId("people-readonly-note").isVisible(), false);
    await shot(page, "people-list");
  });

  test("adds a member: the module checks the email first, a taken one is refused by the field", async () => {
    const opener = page.getByTestId("add-member");
    await opener.click();
    const modal = page.getByRole("dialog", { name: "Add a member" });
    await modal.waitFor();
    const input = modal.getByLabel("Email");
    assert.ok(await input.evaluate((el) => el === document.activeElement));
    // Types offered from the module's list, most powerful first; Viewer by default.
    assert.deepEqual(
      (await modal.getByRole("radio").evaluateAll((els) => els.map((r) => r.value))),
      ["admin", "creator", "explorer", "viewer"]
    );
    assert.equal(await modal.getByRole("radio", { name: /^Viewer/ }).isChecked(), true);
    const posts = [];
    const onRequest = (r) => r.method() === "POST" && posts.push(r.url());
    page.on("request", onRequest);
    await input.fill("not-an-email");
    await modal.getByRole("button", { name: "Add member" }).click();
    assert.equal(await input.getAttribute("aria-invalid"), "true");
    assert.equal(await fieldErrorText(page, input), "email must be an email address");
    page.off("request", onRequest);
    assert.deepEqual(posts, []);
    await shot(page, "people-add-errors");
    // Taken: the server's 409 by the field.
    await input.fill(e.adminEmail);
    await modal.getByLabel(/Create an invitation now/).uncheck();
    await modal.getByRole("button", { name: "Add member" }).click();
    await page.waitForFunction((el) => /already exists/.test(document.getElementById(el.getAttribute("aria-describedby").split(" ").pop()).textContent), await input.elementHandle());
    // A new one.
    await input.fill(email);
    await modal.getByRole("button", { name: "Add member" }).click();
    await modal.waitFor({ state: "detached" });
    await row(email).waitFor();
    assert.match(await row(email).textContent(), /Viewer/);
    assert.equal(await row(email).getAttribute("data-status"), "active");
    assert.ok(await opener.evaluate((el) => el === document.activeElement), "focus returns to Add member");
  });

  test("changes the member's account type", async () => {
    await manage(email, "Change account type…");
    const modal = await changeType("Creator");
    await modal.waitFor({ state: "detached" });
    await page.waitForFunction((who) => /Creator/.test(document.querySelector(`[data-testid=member-row][data-email="${who}"]`).textContent), email);
    // Focus is back on that row's Manage button, though the list was re-rendered.
    assert.ok(await row(email).getByTestId("member-more").evaluate((el) => el === document.activeElement), "focus returns to the row's Manage button");
  });

  test("the org's last admin cannot be demoted (409 by the field)", async (t) => {
    const admins = (await orgApi(e, "GET", "/members")).body.members.filter((m) => m.account_type === "admin" && m.status === "active");
    if (admins.length !== 1) {
      t.skip(`${admins.length} active admins`);
      return;
    }
    await manage(e.adminEmail, "Change account type…");
    const modal = await changeType("Viewer");
    const radio = modal.getByRole("radio", { name: /^Viewer/ });
    await page.waitForFunction((el) => el.getAttribute("aria-invalid") === "true", await radio.elementHandle());
    assert.match(await modal.textContent(), /last active admin/);
    await shot(page, "people-last-admin");
    await page.keyboard.press("Escape");
    await modal.waitFor({ state: "detached" });
    assert.equal((await adminApi(e, "GET", "/me")).body.account_type, "admin");
  });

  test("invites the member (the code shown once); they redeem it for a token of their own", async () => {
    await row(email).getByTestId("member-link").click();
    await page.getByTestId("page-member").waitFor();
    assert.ok(page.url().endsWith(`#people/${encodeURIComponent(email)}`));
    await page.getByRole("heading", { name: email, level: 1 }).waitFor();
    await page.getByText("No API tokens.", { exact: false }).waitFor();
    // An admin cannot issue a token for someone else: the page offers an invitation.
    assert.equal(await page.getByTestId("issue-token").count(), 0);
    await page.getByTestId("invite-member").click();
    const modal = page.getByRole("dialog", { name: "Invitation" });
    await modal.waitFor();
    const code = (await modal.getByTestId("invitation-value").textContent()).trim();
    assert.match(code, /^egi_[0-9a-f]{64}$/);
    await shot(page, "people-invitation-modal");
    await modal.getByRole("button", { name: "Done" }).click();
    await modal.waitFor({ state: "detached" });
    const found = await traces(page, code);
    assert.deepEqual(found, [], `the code is still in: ${found.join(", ")}`);
    // The member redeems it at the console's sign-in (the admin never sees their token): signed
    // in, their token shown once.
    const theirs = await newPage(browser);
    await theirs.goto(`${e.adminUrl}/`);
    await theirs.getByLabel("API token or invitation code").fill(code);
    await theirs.getByRole("button", { name: "Sign in" }).click();
    const welcome = theirs.getByRole("dialog", { name: "Welcome" });
    await welcome.waitFor();
    token = (await welcome.getByTestId("redeemed-token-value").textContent()).trim();
    assert.match(token, /^egt_[0-9a-f]{64}$/);
    assert.match(await welcome.textContent(), new RegExp(`signed in as ${email.replace(/[.]/g, "\\.")}`));
    await shot(theirs, "signin-invitation-redeemed");
    await welcome.getByRole("button", { name: "Done" }).click();
    await theirs.getByRole("heading", { name: "Developer Access", level: 1 }).waitFor();
    // Used once: the same code again is refused, at the field.
    await theirs.getByTestId("signout").click();
    await theirs.getByLabel("API token or invitation code").fill(code);
    await theirs.getByRole("button", { name: "Sign in" }).click();
    await theirs.locator("#signin-token-error:not([hidden])").waitFor();
    assert.match(await theirs.locator("#signin-token-error").textContent(), /invitation code was not accepted/);
    assert.deepEqual(theirs.errors, []);
    await theirs.context().close();
    await page.reload();
    const tokenRow = page.getByTestId("token-row");
    await tokenRow.first().waitFor();
    assert.equal(await tokenRow.count(), 1);
    tokenId = await tokenRow.first().getAttribute("data-token-id");
    assert.ok(tokenId);
    assert.equal(await tokenRow.first().getAttribute("data-state"), "active");
    assert.match(await tokenRow.first().textContent(), new RegExp(email.replace(/[.]/g, "\\.")), "issued by the member");
    await tokenRow.first().getByTestId("token-expires").waitFor();
    await shot(page, "people-member");
  });

  test("the member signs in with it elsewhere: read-only as a creator, admin once promoted", async () => {
    other = await newPage(browser);
    await signIn(other, e, token, { hash: "#people" });
    await other.getByTestId("people-table").waitFor();
    assert.equal(await other.getByTestId("role-badge").textContent(), "Creator · read-only");
    assert.equal(await other.getByTestId("people-readonly-note").isVisible(), true);
    assert.equal(await other.getByTestId("add-member").isVisible(), false);
    assert.equal(await other.getByTestId("member-more").count(), 0);
    assert.equal(await other.getByTestId("member-link").count(), 0);
    await shot(other, "people-readonly");
    await other.getByTestId("nav-access").click();
    await other.getByTestId("readonly-note").waitFor();

    // The admin promotes them from the member's page.
    await page.getByTestId("member-change-type").click();
    const modal = await changeType("Admin");
    await modal.waitFor({ state: "detached" });
    await page.locator('[data-testid=page-member] [data-testid=member-type][data-type="admin"]').waitFor();

    await other.reload();
    await other.getByTestId("create-new").waitFor();
    assert.equal(await other.getByTestId("role-badge").textContent(), "Admin");
    await other.getByTestId("nav-people").click();
    await other.getByTestId("add-member").waitFor();
    assert.ok((await other.getByTestId("member-more").count()) > 0);

    // Back to Creator, so the rest does not depend on a second admin.
    await page.getByTestId("member-change-type").click();
    await (await changeType("Creator")).waitFor({ state: "detached" });
  });

  test("revoking the token ends that session", async () => {
    const tokenRow = page.locator(`[data-testid=token-row][data-token-id="${tokenId}"]`);
    await tokenRow.getByTestId("revoke-token").click();
    const dialog = page.getByTestId("revoke-token-dialog");
    await dialog.waitFor();
    assert.match(await dialog.textContent(), /refused immediately/);
    await page.getByTestId("revoke-token-dialog-confirm").click();
    await dialog.waitFor({ state: "detached" });
    await page.locator(`[data-testid=token-row][data-token-id="${tokenId}"][data-state=revoked]`).waitFor();

    // The other tab's next request is refused (401): back to sign in, the token forgotten.
    await other.getByTestId("nav-access").click();
    await other.getByRole("heading", { name: "Sign in to Developer Access" }).waitFor();
    assert.match(await other.locator("#signin-message").textContent(), /session ended/);
    assert.equal(await other.evaluate(() => sessionStorage.length), 0);
    assert.equal((await adminApi(e, "GET", "/me", null, token)).status, 401);
    await shot(other, "people-token-revoked");
  });

  test("deactivating a member who owns a credential: the dialog says what breaks, the credential turns owner_inactive", async () => {
    // A credential they own, made in the console, and a second live token.
    await page.getByTestId("nav-access").click();
    await page.locator("#credentials-body[aria-busy=false]").waitFor();
    const created = await createCredential(page, { name: credName, owner: email });
    await created.modal.getByRole("button", { name: "Done" }).click();
    await created.modal.waitFor({ state: "detached" });
    // Their first token was revoked: a new invitation, redeemed as them.
    const issued = await invitedToken(e, email);
    assert.equal(issued.status, 201);
    secondToken = issued.body.token;

    await page.getByTestId("nav-people").click();
    await row(email).waitFor();
    await manage(email, "Deactivate…");
    const dialog = page.getByTestId("deactivate-dialog");
    await dialog.waitFor();
    const consequences = await dialog.getByTestId("deactivate-consequences").textContent();
    assert.match(consequences, /Their 1 active API token stops working/);
    assert.match(consequences, /1 active client credential they own becomes inactive/);
    assert.ok(consequences.includes(credName), consequences);
    assert.ok(await page.getByTestId("deactivate-dialog-cancel").evaluate((el) => el === document.activeElement), "Cancel is focused first");
    await shot(page, "people-deactivate-dialog");
    await page.getByTestId("deactivate-dialog-confirm").click();
    await dialog.waitFor({ state: "detached" });
    await page.locator(`[data-testid=member-row][data-email="${email}"][data-status=deactivated]`).waitFor();

    await page.getByTestId("nav-access").click();
    const credRow = page.locator(`[data-testid=credential-row][data-client-id="${created.clientId}"]`);
    await page.locator(`[data-testid=credential-row][data-client-id="${created.clientId}"][data-status=owner_inactive]`).waitFor();
    assert.equal((await credRow.getByTestId("cred-status").textContent()).trim(), "Owner inactive");
    assert.equal((await adminApi(e, "GET", "/me", null, secondToken)).status, 401);
    await shot(page, "people-deactivated-credential");
  });

  test("the deactivated member's page says so and offers nothing to change", async () => {
    await page.goto(`${e.adminUrl}/#people/${encodeURIComponent(email)}`);
    await page.getByTestId("member-deactivated-note").waitFor();
    assert.equal(await page.getByTestId("member-change-type").count(), 0);
    assert.equal(await page.getByTestId("issue-token").count(), 0);
    assert.equal(await page.getByTestId("invite-member").count(), 0);
    await page.locator('[data-testid=owned-row][data-status=owner_inactive]').waitFor();
    await page.locator("[data-testid=token-row]").first().waitFor();
    await shot(page, "people-member-deactivated");
  });

  test("no page errors", () => {
    assert.deepEqual(page.errors, []);
    assert.deepEqual(other?.errors || [], []);
  });
});
