// The console's tables stay readable from 1024 px wide upwards: at
// 1024×768, 1280×800 and 1920×1080 the credentials, people, tokens, audit
// and edges tables are screenshotted and checked: no page-wide sideways
// scrolling (a table wider than its card scrolls in its own container),
// identifiers (client IDs, token IDs) on one line of a sensible width, and
// no cell squeezed to a sliver.

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { env, invitedToken, launch, newPage, orgApi, shot, signIn, unique } from "./lib.mjs";

const e = env("adminUrl", "org", "adminToken", "adminEmail");
const SIZES = [
  [1024, 768],
  [1280, 800],
  [1920, 1080],
];
let browser;
const tag = unique();
const longEmail = `a.rather.long.member.address.${tag}@subsidiary.example-company.com`;
const shortEmail = `li-${tag}@example.com`;

before(async () => {
  browser = await launch();
  // Data that stresses the columns: long names, descriptions, emails, every status.
  for (const [email, type] of [
    [longEmail, "creator"],
    [shortEmail, "viewer"],
  ]) {
    assert.equal((await orgApi(e, "POST", "/members", { email, account_type: type })).status, 201);
  }
  const mk = async (name, owner, extra = {}) => {
    const r = await orgApi(e, "POST", "/credentials", { name, owner, privileges: ["embedding"], ...extra });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    return r.body;
  };
  await mk(`Customer analytics portal (production, EU region) ${tag}`, longEmail, {
    description: "Signs the embeds of the customer-facing analytics portal in the EU region; rotated every quarter by the platform team.",
    privileges: ["embedding", "api"],
    allowed_origins: ["https://analytics.example-company.com", "https://eu.example-company.com"],
  });
  const revoked = await mk(`Old staging ${tag}`, e.adminEmail);
  assert.equal((await orgApi(e, "POST", `/credentials/${revoked.client_id}/revoke`)).status, 200);
  await mk(`Intern project ${tag}`, shortEmail);
  assert.equal((await orgApi(e, "POST", `/members/${shortEmail}/deactivate`)).status, 200);
  const first = await invitedToken(e, longEmail);
  assert.equal(first.status, 201);
  assert.equal((await orgApi(e, "POST", `/members/${longEmail}/tokens`, null, first.body.token)).status, 201);
});
after(async () => {
  await browser?.close();
});

/** What is wrong with the layout of the tables `testid` on the page (empty: nothing). */
async function layoutProblems(page, testid) {
  return page.evaluate((tid) => {
    const problems = [];
    const vw = document.documentElement.clientWidth;
    if (document.documentElement.scrollWidth > vw + 1) {
      problems.push(`the page scrolls sideways: ${document.documentElement.scrollWidth} > ${vw}`);
    }
    const tables = [...document.querySelectorAll(`[data-testid="${tid}"]`)];
    if (tables.length === 0) problems.push(`no ${tid}`);
    for (const table of tables) {
      const wrap = table.closest(".table-wrap");
      if (!wrap) {
        problems.push(`${tid} has no scroll container`);
        continue;
      }
      const w = wrap.getBoundingClientRect();
      const t = table.getBoundingClientRect();
      if (w.right > vw + 1) problems.push(`${tid}'s container ends beyond the viewport (${Math.round(w.right)} > ${vw})`);
      const ox = getComputedStyle(wrap).overflowX;
      if (t.width > w.width + 1 && ox !== "auto" && ox !== "scroll") problems.push(`${tid} is wider than its container, which does not scroll`);
      // Identifiers: one line, not a sliver.
      for (const code of table.querySelectorAll(".id-text")) {
        const r = code.getBoundingClientRect();
        const line = parseFloat(getComputedStyle(code).lineHeight);
        const ch = parseFloat(getComputedStyle(code).fontSize) * 0.6;
        if (r.height > 2 * line + 4) problems.push(`an ID in ${tid} is ${Math.round(r.height)} px tall (line ${line})`);
        if (r.width < 10 * ch) problems.push(`an ID in ${tid} is ${Math.round(r.width)} px wide`);
      }
      // No cell squeezed: every text cell at least ~6 characters wide, and its text at least ~8 characters a line.
      for (const td of table.querySelectorAll("tbody td")) {
        const text = td.innerText.trim();
        if (!text) continue;
        const r = td.getBoundingClientRect();
        if (text.length > 6 && r.width < 56) problems.push(`a cell of ${tid} is ${Math.round(r.width)} px wide: ${JSON.stringify(text.slice(0, 30))}`);
        // Lines: the distinct tops of the visible text's line boxes.
        const tops = new Set();
        const walker = document.createTreeWalker(td, NodeFilter.SHOW_TEXT);
        for (let node = walker.nextNode(); node; node = walker.nextNode()) {
          if (!node.textContent.trim() || node.parentElement.closest(".visually-hidden")) continue;
          const range = document.createRange();
          range.selectNodeContents(node);
          for (const rect of range.getClientRects()) if (rect.width > 0) tops.add(Math.round(rect.top));
        }
        const lines = tops.size;
        if (lines > 2 && text.replace(/\s+/g, "").length / lines < 8) {
          problems.push(`a cell of ${tid} has ${lines} lines for ${text.length} characters: ${JSON.stringify(text.slice(0, 30))}`);
        }
      }
      for (const th of table.querySelectorAll("th")) {
        const r = th.getBoundingClientRect();
        if (th.innerText.trim() && r.height > 48) problems.push(`a heading of ${tid} wraps: ${th.innerText}`);
      }
    }
    return problems;
  }, testid);
}

/** The client-ID cells of the credentials table each at most about two lines tall. */
async function clientIdHeights(page) {
  return page.locator("[data-testid=credential-row] [data-testid=row-client-id]").evaluateAll((els) =>
    els.map((el) => ({ h: el.getBoundingClientRect().height, line: parseFloat(getComputedStyle(el).lineHeight) }))
  );
}

for (const [width, height] of SIZES) {
  describe(`console at ${width}×${height}`, () => {
    let page;
    before(async () => {
      const context = await browser.newContext({ viewport: { width, height }, deviceScaleFactor: 1 });
      page = await newPage(browser, { context });
      await signIn(page, e, e.adminToken);
    });
    after(async () => {
      await page?.context().close();
    });

    test("credentials", async () => {
      await page.locator(`[data-testid=credential-row][data-status=owner_inactive]`).first().waitFor();
      await shot(page, `layout-credentials-${width}x${height}`);
      const heights = await clientIdHeights(page);
      assert.ok(heights.length >= 3);
      for (const { h, line } of heights) assert.ok(h <= 2 * line + 4, `a client ID is ${h} px tall (line ${line})`);
      assert.deepEqual(await layoutProblems(page, "credentials-table"), []);
    });

    test("people", async () => {
      await page.getByTestId("nav-people").click();
      await page.locator(`[data-testid=member-row][data-email="${shortEmail}"]`).waitFor();
      await shot(page, `layout-people-${width}x${height}`);
      assert.deepEqual(await layoutProblems(page, "people-table"), []);
    });

    test("a member's tokens", async () => {
      await page.locator(`[data-testid=member-row][data-email="${longEmail}"] [data-testid=member-link]`).click();
      await page.getByTestId("tokens-table").waitFor();
      await page.getByTestId("owned-table").waitFor();
      await shot(page, `layout-member-${width}x${height}`);
      assert.deepEqual(await layoutProblems(page, "tokens-table"), []);
      assert.deepEqual(await layoutProblems(page, "owned-table"), []);
    });

    test("audit log and edges", async () => {
      await page.getByTestId("nav-access").click();
      await page.getByRole("tab", { name: "Audit log" }).click();
      await page.getByTestId("audit-table").waitFor();
      await shot(page, `layout-audit-${width}x${height}`);
      assert.deepEqual(await layoutProblems(page, "audit-table"), []);
      await page.getByRole("tab", { name: "Edges" }).click();
      await page.locator("#edges-body table, #edges-body .empty-state").first().waitFor();
      if (await page.getByTestId("edges-table").count()) assert.deepEqual(await layoutProblems(page, "edges-table"), []);
      await page.getByRole("tab", { name: "Credentials" }).click();
    });

    test("no page errors", () => {
      assert.deepEqual(page.errors, []);
    });
  });
}
