// Helpers of the browser tests: the stack under test (env), Chromium,
// screenshots, and page-error collection. The stack is started by the Rust
// harness (or by hand); see tests/browser/README.md.

import { createRequire } from "node:module";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const { chromium } = require(path.join(here, "../../node_modules/playwright-core"));

/** The stack under test, from the environment. `need` lists required names. */
export function env(...need) {
  const e = {
    adminUrl: (process.env.EMBEDGATE_ADMIN_URL || "").replace(/\/+$/, ""),
    edgeUrl: (process.env.EMBEDGATE_EDGE_URL || "").replace(/\/+$/, ""),
    org: process.env.EMBEDGATE_ORG || "",
    adminToken: process.env.EMBEDGATE_ADMIN_TOKEN || "",
    adminEmail: process.env.EMBEDGATE_ADMIN_EMAIL || "",
    viewerToken: process.env.EMBEDGATE_VIEWER_TOKEN || "",
    vectors: process.env.EMBEDGATE_VECTORS || "",
    rotateOrg: process.env.EMBEDGATE_ROTATE_ORG || "",
    rotateToken: process.env.EMBEDGATE_ROTATE_TOKEN || "",
    rotateDownload: process.env.EMBEDGATE_ROTATE_DOWNLOAD || "",
    artifacts: process.env.EMBEDGATE_ARTIFACTS || path.join(here, "../../target/browser-artifacts"),
  };
  const names = {
    adminUrl: "EMBEDGATE_ADMIN_URL",
    edgeUrl: "EMBEDGATE_EDGE_URL",
    org: "EMBEDGATE_ORG",
    adminToken: "EMBEDGATE_ADMIN_TOKEN",
    adminEmail: "EMBEDGATE_ADMIN_EMAIL",
    viewerToken: "EMBEDGATE_VIEWER_TOKEN",
    vectors: "EMBEDGATE_VECTORS",
    rotateOrg: "EMBEDGATE_ROTATE_ORG",
    rotateToken: "EMBEDGATE_ROTATE_TOKEN",
    rotateDownload: "EMBEDGATE_ROTATE_DOWNLOAD",
  };
  const missing = need.filter((k) => !e[k]).map((k) => names[k]);
  if (missing.length) {
    throw new Error(`the browser tests need a running stack: set ${missing.join(", ")} (see tests/browser/README.md)`);
  }
  fs.mkdirSync(e.artifacts, { recursive: true });
  return e;
}

/** Debian's Chromium, headless, offline except for loopback. */
export async function launch() {
  return chromium.launch({
    executablePath: process.env.EMBEDGATE_CHROMIUM || "/usr/bin/chromium",
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
    ],
  });
}

/** A new context + page with a desktop viewport; page errors are collected in `page.errors`. */
export async function newPage(browser, { context } = {}) {
  const ctx = context || (await browser.newContext({ viewport: { width: 1440, height: 900 }, deviceScaleFactor: 1 }));
  const page = await ctx.newPage();
  page.errors = [];
  page.on("pageerror", (err) => page.errors.push(`pageerror: ${err.message}`));
  page.on("console", (msg) => {
    // Failed loads (the 403 of the role probe, a refused sign-in) are expected answers, not page faults.
    if (msg.type() === "error" && !/^Failed to load resource/.test(msg.text())) page.errors.push(`console.error: ${msg.text()}`);
  });
  return page;
}

/** Saves a full-page screenshot as `<artifacts>/<name>.png`. */
export async function shot(page, name) {
  const dir = env().artifacts;
  await page.screenshot({ path: path.join(dir, `${name}.png`), fullPage: true });
}

/**
 * Signs in to the console at `/` with `token` alone (the org comes from
 * `GET /api/v1/me`) and waits for the credentials to be listed. `hash`
 * opens another page of the console (e.g. "#people").
 */
export async function signIn(page, e, token, { hash = "" } = {}) {
  await page.goto(`${e.adminUrl}/${hash}`);
  await page.getByLabel("API token").fill(token);
  await page.getByRole("button", { name: "Sign in" }).click();
  if (hash.startsWith("#people")) {
    await page.getByTestId(hash === "#people" ? "page-people" : "page-member").waitFor();
  } else {
    await page.getByRole("heading", { name: "Developer Access", level: 1 }).waitFor();
    await page.locator("#credentials-body[aria-busy=false]").waitFor();
  }
}

/** Opens the host-app demo on `page` and saves `cred` (`{clientId, secret}`) of org `e.org` as its configuration. */
export async function configureDemoHost(page, e, cred) {
  await page.goto(`${e.adminUrl}/demo`);
  await page.getByTestId("config-current").filter({ hasNotText: "Loading" }).waitFor();
  await page.getByLabel("Organization").fill(e.org);
  await page.getByLabel("Client ID").fill(cred.clientId);
  await page.getByLabel("Embed secret").fill(cred.secret);
  await page.getByRole("button", { name: "Save" }).click();
  await page.getByTestId("config-current").filter({ hasText: cred.clientId }).waitFor();
}

/** An admin API call with `token` (default: the admin's): `{status, body}`. */
export async function adminApi(e, method, path, body, token = e.adminToken) {
  const r = await fetch(`${e.adminUrl}/api/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, accept: "application/json", ...(body ? { "content-type": "application/json" } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await r.text();
  return { status: r.status, body: text ? JSON.parse(text) : null };
}

/** The same, under `/orgs/{org}`. */
export function orgApi(e, method, path, body, token) {
  return adminApi(e, method, `/orgs/${e.org}${path}`, body, token);
}

/**
 * A token of `email`'s own (an existing member): the admin invites them and
 * the invitation is redeemed as them (an admin cannot issue a token for
 * another member). The redeem answer `{status, body: {id, email, token, expires_at}}`.
 */
export async function invitedToken(e, email) {
  const invited = await orgApi(e, "POST", `/members/${email}/invitations`);
  if (invited.status !== 201) return invited;
  return adminApi(e, "POST", "/invitations/redeem", { code: invited.body.code });
}

/**
 * Where `secret` still shows in the page: the document, storage, URL,
 * history, title, form values, rendered text. `[]` when nowhere.
 */
export async function traces(page, secret) {
  return page.evaluate((s) => {
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
}

/** The text of the error paragraph of a control (the last id of its aria-describedby). */
export async function fieldErrorText(page, control) {
  const describedBy = await control.getAttribute("aria-describedby");
  return (await page.locator(`[id="${describedBy.split(" ").pop()}"]`).textContent()).trim();
}

/** A unique suffix for names made by a test run. */
export function unique() {
  return `${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`;
}

/**
 * Creates client credentials through the console's "Create client
 * credentials" modal (the page is signed in as an admin) and returns the
 * client ID and the secret read from the "Access Credentials" modal, which
 * is left open.
 */
export async function createCredential(page, { name, owner, description, api = false, origins = [] }) {
  await page.getByTestId("create-new").click();
  const modal = page.getByRole("dialog", { name: "Create client credentials" });
  await modal.waitFor();
  if (api) await modal.getByLabel("REST API").check();
  await modal.getByLabel("Name", { exact: true }).fill(name);
  if (description) await modal.getByLabel(/^Description/).fill(description);
  await modal.getByTestId("create-owner").selectOption(owner);
  if (origins.length) {
    await modal.getByText("Advanced").click();
    await modal.getByLabel(/^Allowed origins/).fill(origins.join("\n"));
  }
  await modal.getByRole("button", { name: "Create", exact: true }).click();
  const secretModal = page.getByRole("dialog", { name: "Access Credentials" });
  await secretModal.waitFor();
  const secret = (await secretModal.getByTestId("secret-value").textContent()).trim();
  const clientId = (await secretModal.getByTestId("client-id-value").textContent()).trim();
  return { clientId, secret, modal: secretModal };
}
