// Embeds that refresh in place (issue 15): on an edge with short sessions
// (EMBEDGATE_SESSION_TTL_S, e.g. 6 s), the demo host answers the embed's
// `embedgate:expiring` with a fresh token for the same user; the embed
// extends its session without reloading (a chosen filter and the page's
// instance id survive), ignores refreshes from anyone but its parent at an
// allowed origin, refuses another user's token, and still ends at once when
// the credential is revoked. Run by tests/tests/browser.rs on a stack of its
// own; skipped on a stack with the usual 10-minute sessions.

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { configureDemoHost, env, launch, newPage, orgApi, shot, unique } from "./lib.mjs";

const e = env("adminUrl", "edgeUrl", "org", "adminToken", "adminEmail");
const ttl = Number(process.env.EMBEDGATE_SESSION_TTL_S || 0);
const short = ttl > 0 && ttl <= 10;

describe("embeds that refresh in place", { skip: short ? false : "needs an edge with short sessions (EMBEDGATE_SESSION_TTL_S ≤ 10)" }, () => {
  let browser;
  let demo;
  let cred;
  const sub = `refresh-${unique()}@example.com`;
  const frame = () => demo.frameLocator("[data-testid=embed-frame]");
  const refreshes = async () => Number(await demo.getByTestId("embed-refresh").getAttribute("data-refreshes"));
  const inFrame = async (selector, attribute) => frame().locator(selector).getAttribute(attribute);

  /** Waits for the host to count refresh `n`; answers the embed's session end (`exp`) then. */
  async function refreshNumber(n) {
    await demo.locator(`[data-testid=embed-refresh][data-refreshes="${n}"]`).waitFor({ timeout: ttl * 1000 + 5000 });
    return Number(await inFrame("#embedgate-session", "data-exp"));
  }

  /** A fresh token for `user` from the demo host's server, as the host page would get it. */
  async function tokenFor(user) {
    return demo.evaluate(async (u) => {
      const r = await fetch("/demo/api/embed-url", {
        method: "POST",
        headers: { "content-type": "application/json", accept: "application/json" },
        body: JSON.stringify({ sub: u }),
      });
      return new URL((await r.json()).url).searchParams.get(":jwt");
    }, user);
  }

  /** The host page (the iframe's parent, an allowed origin) posts a refresh with `jwt`. */
  async function parentPosts(jwt) {
    await demo.evaluate(
      ([t, origin]) => document.getElementById("embed-frame").contentWindow.postMessage({ type: "embedgate:refresh", jwt: t }, origin),
      [jwt, e.edgeUrl]
    );
  }

  before(async () => {
    browser = await launch();
    demo = await newPage(browser);
    // The demo host frames the embed: its origin must be allowed (framing is denied by default).
    const { status, body } = await orgApi(e, "POST", "/credentials", {
      name: `Refresh host ${unique()}`,
      owner: e.adminEmail,
      privileges: ["embedding"],
      allowed_origins: [new URL(e.adminUrl).origin],
    });
    assert.equal(status, 201, JSON.stringify(body));
    cred = { clientId: body.client_id, secret: body.secret };
    await configureDemoHost(demo, e, cred);
  });
  after(async () => {
    await browser?.close();
  });

  let instance;
  let lastExp;

  test("a chosen filter and the page instance survive three refreshes; exp moves forward each time", async () => {
    await demo.getByLabel("User email").fill(sub);
    await demo.getByRole("button", { name: "Load embed" }).click();
    await demo.locator('[data-testid=embed-status][data-state=ok][data-load="1"]').waitFor({ timeout: 10000 });
    await frame().locator("#embedgate-filter").selectOption("west");
    assert.equal(await frame().locator("#embedgate-filter-shown").textContent(), "west");
    instance = await frame().locator("#embedgate-instance").textContent();
    assert.match(instance, /^[0-9a-f]{16}$/);
    let exp = Number(await inFrame("#embedgate-session", "data-exp"));
    assert.ok(exp > Date.now() / 1000 - 5 && exp <= Date.now() / 1000 + ttl + 5, `exp ${exp}`);
    const t0 = Date.now();
    for (let n = 1; n <= 3; n += 1) {
      const next = await refreshNumber(n);
      assert.ok(next > exp, `refresh ${n}: exp ${next} is not after ${exp}`);
      assert.equal(await inFrame("#embedgate-session", "data-refreshes"), String(n));
      exp = next;
    }
    // Three sessions of `ttl` seconds each have come and gone: without the refreshes the embed had ended.
    assert.ok(Date.now() - t0 > 2 * (ttl - Math.min(ttl * 0.2, 30)) * 1000, "the refreshes came too early");
    assert.match(await demo.getByTestId("embed-refresh").textContent(), /^Session extended · 3 refreshes/);
    assert.equal(await frame().locator("#embedgate-filter").inputValue(), "west", "the filter was reset: the page reloaded");
    assert.equal(await frame().locator("#embedgate-filter-shown").textContent(), "west");
    assert.equal(await frame().locator("#embedgate-instance").textContent(), instance, "a new page instance: the page reloaded");
    assert.equal(await inFrame("#embedgate-verified", "data-sub"), sub);
    assert.equal(await demo.getByTestId("embed-status").getAttribute("data-state"), "ok");
    lastExp = exp;
    await shot(demo, "demo-refreshed");
  });

  test("a refresh from anyone but the parent at an allowed origin is ignored (its token stays unspent)", async () => {
    // Right after a refresh: the next one is seconds away, so nothing else is in flight.
    const n = await refreshes();
    lastExp = await refreshNumber(n + 1);
    const accepted = await inFrame("#embedgate-session", "data-accepted");
    const jwt = await tokenFor(sub);
    // 1. The embed's own window posting to itself (say, a script injected into it).
    const embed = demo.frames().find((f) => f.url().startsWith(`${e.edgeUrl}/`));
    await embed.evaluate((t) => window.postMessage({ type: "embedgate:refresh", jwt: t }, "*"), jwt);
    // 2. A sibling frame on another origin (the edge's own port, not an allowed origin).
    await demo.evaluate((url) => {
      const f = document.createElement("iframe");
      f.id = "hostile";
      f.src = url;
      document.body.append(f);
    }, `${e.edgeUrl}/healthz`);
    const hostile = demo.frameLocator("#hostile").locator("body");
    await hostile.waitFor();
    const sibling = demo.frames().find((f) => f.url() === `${e.edgeUrl}/healthz`);
    await sibling.evaluate((t) => parent.frames[0].postMessage({ type: "embedgate:refresh", jwt: t }, "*"), jwt);
    await demo.waitForTimeout(500);
    assert.equal(await inFrame("#embedgate-session", "data-accepted"), accepted, "a hostile refresh was taken");
    assert.equal(await refreshes(), n + 1);
    assert.equal(await demo.getByTestId("embed-refresh").getAttribute("data-state"), "ok");
    // The same token from the parent is taken, and works: the ignored messages spent nothing.
    await parentPosts(jwt);
    const exp = await refreshNumber(n + 2);
    assert.ok(exp >= lastExp, `exp ${exp} before ${lastExp}`);
    assert.equal(await inFrame("#embedgate-session", "data-accepted"), String(Number(accepted) + 1));
    await demo.evaluate(() => document.getElementById("hostile").remove());
  });

  test("a refresh with another user's token is refused and the embed goes on as its own user", async () => {
    const n = await refreshes();
    await refreshNumber(n + 1);
    await parentPosts(await tokenFor(`someone-else-${unique()}@example.com`));
    await demo.locator("[data-testid=embed-refresh][data-state=error][data-code=impersonation_not_allowed]").waitFor({ timeout: 3000 });
    assert.equal(await inFrame("#embedgate-verified", "data-sub"), sub);
    assert.equal(await frame().locator("#embedgate-instance").textContent(), instance);
    // The next announced end is answered with the right user's token: on it goes.
    await refreshNumber(n + 2);
    assert.equal(await demo.getByTestId("embed-refresh").getAttribute("data-state"), "ok");
    assert.equal(await frame().locator("#embedgate-filter").inputValue(), "west");
  });

  test("revoking the credential still ends the refreshed embed at once", async () => {
    const { status, body } = await orgApi(e, "POST", `/credentials/${cred.clientId}/revoke`, {});
    assert.equal(status, 200, JSON.stringify(body));
    const t0 = Date.now();
    await demo.locator("[data-testid=embed-error-code]", { hasText: "credential_revoked" }).waitFor({ timeout: 3000 });
    console.log(`# revoke → refreshed embed ended in ${Date.now() - t0} ms`);
    assert.equal(await frame().locator("#embedgate-error").getAttribute("data-code"), "credential_revoked");
    await shot(demo, "demo-refresh-revoked");
  });

  test("no page errors", () => {
    assert.deepEqual(demo.errors, []);
  });
});
