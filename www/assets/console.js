// The Developer Access console (/): sign in with a member token alone, the
// org's embed credentials (create / rotate / retire / revoke for admins,
// and the emergency rotation of the org's keys), the audit log, the edges'
// sync status, and the People pages (people.js).
//
// Routes are the URL's fragment: `#credentials` (or none), `#audit`,
// `#embed-users`, `#edges`, `#people`, `#people/<email>`.
//
// Secrets: a create or rotate answer's secret goes straight into one
// <code> node of the "Access Credentials" modal and the property is
// deleted from the answer; nothing else keeps it (no variable outlives the
// call, the Copy button reads the node at click time). Closing the modal
// removes its nodes from the document. The new secrets of an org key
// rotation are handled the same way (their Download reads the nodes at
// click time into a Blob whose object URL is revoked at once), and so are
// member API tokens issued on the People pages.
//
// Field rules (limits, lists, sentences) come from the WASM module through
// rules.js; the server's 422 is shown by the field when the module is
// missing or disagrees.

import { api, ApiError, clearSession, describeError, loadToken, redeem, saveToken, whoAmI } from "./api.js";
import { $, call, endsSession, fetchCredentials, handleError, loadMembers, setHooks, state } from "./app.js";
import { closePeopleModals, leavePeople, renderMemberPage, renderPeoplePage, refreshPeopleViews } from "./people.js";
import {
  accountTypeLabel,
  checkBody,
  checkField,
  humanSeconds,
  loadRules,
  privilegeHelp,
  privilegeLabel,
  privileges as privilegeList,
  publicKeyInfo,
  rules,
  rulesReady,
} from "./rules.js";
import {
  announce,
  absoluteTime,
  charCounter,
  confirmDialog,
  copyField,
  dialogError,
  emailText,
  fieldError,
  formErrorBox,
  formField,
  h,
  idCell,
  keepingFocus,
  menuButton,
  newId,
  openModal,
  relativeTime,
  scrollTable,
  setFieldError,
  setPending,
  shortDate,
  showFormError,
  showOnceModal,
  timeEl,
  timeOfDay,
  toast,
} from "./ui.js";

const SESSION_ENDED = "Your session ended: the API token was rejected (revoked, or its member was deactivated). Sign in again.";

const ui = {
  page: null,
  tab: "credentials",
  edgesTimer: null,
  edgesInFlight: false,
  /** Whether the edges tab shows the org's view (the member is not a platform operator). */
  edgesOrgView: false,
  auditNext: null,
  auditItems: [],
  usersNext: null,
  usersItems: [],
  credentialsLoaded: false,
  credFilter: "",
  credSignature: null,
};

// ------------------------------------------------------------------ sign in / out

function showSignin(message) {
  stopEdges();
  Object.assign(state, { token: null, org: null, email: null, accountType: null, isAdmin: false, members: null, credentials: null });
  ui.credentialsLoaded = false;
  ui.credSignature = null;
  ui.page = null;
  leavePeople();
  $("app-view").hidden = true;
  $("signin-view").hidden = false;
  const box = $("signin-message");
  if (message) {
    $("signin-message-text").textContent = message;
    box.hidden = false;
  } else {
    box.hidden = true;
  }
  document.title = "Sign in · Developer Access · embedgate";
  $("signin-token").focus();
}

async function onSignin(e) {
  e.preventDefault();
  const tokenInput = $("signin-token");
  const tokenError = $("signin-token-error");
  const token = tokenInput.value.trim();
  if (!token) {
    setFieldError(tokenInput, tokenError, "Enter your API token.");
    tokenInput.focus();
    return;
  }
  if (token.startsWith("egi_")) {
    await redeemInvitation(token);
    return;
  }
  if (!token.startsWith("egt_")) {
    setFieldError(tokenInput, tokenError, "Member API tokens start with egt_, invitation codes with egi_ (an embed secret, egs_…, does not sign in).");
    tokenInput.focus();
    return;
  }
  setFieldError(tokenInput, tokenError, null);
  const button = $("signin-submit");
  setPending(button, true, "Signing in…");
  $("signin-message").hidden = true;
  try {
    await enterApp(token);
    tokenInput.value = "";
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) {
      setFieldError(tokenInput, tokenError, "This token was not accepted: it is unknown, revoked, or its member was deactivated.");
      tokenInput.focus();
    } else {
      $("signin-message-text").textContent = describeError(err);
      $("signin-message").hidden = false;
      tokenInput.focus();
    }
  } finally {
    setPending(button, false);
  }
}

/**
 * An invitation code typed at sign-in: exchanged for the member's own API
 * token (POST /api/v1/invitations/redeem), which signs this tab in and is
 * shown once for the member's own tools.
 */
async function redeemInvitation(code) {
  const tokenInput = $("signin-token");
  const tokenError = $("signin-token-error");
  const button = $("signin-submit");
  setFieldError(tokenInput, tokenError, null);
  setPending(button, true, "Redeeming…");
  $("signin-message").hidden = true;
  let answer;
  try {
    answer = await redeem(code);
  } catch (err) {
    if (err instanceof ApiError && err.status < 500 && err.status !== 429 && err.status !== 0) {
      setFieldError(tokenInput, tokenError, "This invitation code was not accepted: it is unknown, used, expired or replaced by a newer one. Ask an admin of your organization for a new one.");
    } else {
      $("signin-message-text").textContent = describeError(err);
      $("signin-message").hidden = false;
    }
    tokenInput.focus();
    setPending(button, false);
    return;
  }
  tokenInput.value = "";
  setPending(button, false);
  try {
    await enterApp(answer.token);
  } catch (err) {
    $("signin-message-text").textContent = describeError(err);
    $("signin-message").hidden = false;
    return;
  }
  showRedeemedToken(answer);
}

/** The token an invitation gave: shown once, for the member's automation. */
function showRedeemedToken(answer) {
  showOnceModal({
    title: "Welcome",
    description: "Your invitation was redeemed.",
    label: "API token",
    value: answer.token,
    testid: "redeemed",
    valueTestid: "redeemed-token-value",
    lines: [
      `You are signed in as ${answer.email}. This is your API token, shown this once: keep it to sign in again or for your automation. It works until ${new Date(answer.expires_at * 1000).toLocaleString()} or until it is revoked.`,
    ],
    closed: "Welcome closed. The token is no longer shown.",
  });
}

/** Asks the server whose token this is, then shows the console. */
async function enterApp(token) {
  const me = await whoAmI(token);
  saveToken(token);
  state.token = token;
  applyIdentity(me);
  $("signin-view").hidden = true;
  $("app-view").hidden = false;
  route({ focus: true });
  // The member list feeds the owner picker and the People pages; it is not needed to show the page.
  loadMembers()
    .then(() => refreshPeopleViews())
    .catch((err) => {
      if (!endsSession(err)) refreshPeopleViews(err);
    });
}

function applyIdentity(me) {
  state.org = me.org;
  state.email = me.email;
  state.accountType = me.account_type;
  state.isAdmin = me.account_type === "admin";
  $("org-name").textContent = state.org;
  $("me-email").textContent = state.email;
  const badge = $("role-badge");
  badge.textContent = state.isAdmin ? accountTypeLabel("admin") : `${accountTypeLabel(state.accountType)} · read-only`;
  badge.className = `badge ${state.isAdmin ? "badge-info" : "badge-neutral"}`;
  $("create-new").hidden = !state.isAdmin;
  $("danger-zone").hidden = !state.isAdmin;
  $("readonly-note").hidden = state.isAdmin;
  $("add-member").hidden = !state.isAdmin;
  $("people-readonly-note").hidden = state.isAdmin;
}

/**
 * After a 403 (or a change to the signed-in member), asks the server again
 * who this is: an account type changed elsewhere shows without a reload.
 */
async function recheckIdentity() {
  if (!state.token) return;
  try {
    const me = await whoAmI(state.token);
    const wasAdmin = state.isAdmin;
    applyIdentity(me);
    if (wasAdmin !== state.isAdmin) {
      toast(state.isAdmin ? "You are now an admin of this org." : `Your account type is now ${accountTypeLabel(state.accountType)}: the console is read-only.`, "info");
      route({ focus: false });
    }
  } catch (err) {
    endsSession(err);
  }
}

function signOut(message) {
  clearSession();
  ui.edgesOrgView = false;
  closeAllModals();
  showSignin(message);
  if (!message) announce("Signed out");
}

function closeAllModals() {
  closePeopleModals();
  for (const el of document.querySelectorAll(".modal-backdrop")) el.remove();
  for (const el of document.querySelectorAll("[data-app-root]")) {
    el.inert = false;
    el.removeAttribute("aria-hidden");
  }
}

// ------------------------------------------------------------------ navigation

const TABS = ["credentials", "audit", "embed-users", "edges"];
const PAGES = ["access", "people", "member"];

/** The page (and tab or member) the URL's fragment names. */
function currentRoute() {
  const hash = location.hash.slice(1);
  if (hash === "people") return { page: "people" };
  if (hash.startsWith("people/")) {
    let email = "";
    try {
      email = decodeURIComponent(hash.slice("people/".length));
    } catch {
      email = "";
    }
    return email ? { page: "member", email } : { page: "people" };
  }
  return { page: "access", tab: TABS.includes(hash) ? hash : "credentials" };
}

/** Shows what the URL names. `focus`: move focus to the page's heading (a navigation). */
function route({ focus }) {
  if (!state.token) return;
  const r = currentRoute();
  const changed = r.page !== ui.page;
  ui.page = r.page;
  for (const p of PAGES) $(`page-${p}`).hidden = p !== r.page;
  for (const link of document.querySelectorAll("[data-nav]")) {
    const on = link.dataset.nav === (r.page === "member" ? "people" : r.page);
    link.classList.toggle("is-active", on);
    if (on) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  if (r.page !== "access") stopEdges();
  else leavePeople();
  if (r.page === "access") {
    document.title = `Developer Access · ${state.org} · embedgate`;
    selectTab(r.tab, false);
    // Shown from what is loaded, refreshed on every visit (other admins change things too).
    if (changed || !ui.credentialsLoaded) loadCredentials();
  } else if (r.page === "people") {
    document.title = `People · ${state.org} · embedgate`;
    renderPeoplePage();
    if (changed || !ui.credentialsLoaded) loadCredentials();
  } else {
    document.title = `${r.email} · People · ${state.org} · embedgate`;
    renderMemberPage(r.email);
    if (changed || !ui.credentialsLoaded) loadCredentials();
  }
  if (focus || changed) {
    const heading = document.querySelector(`#page-${r.page} h1`);
    if (heading && focus) heading.focus();
    else if (focus) $("main").focus();
  }
}

function selectTab(name, focus = true) {
  ui.tab = name;
  for (const t of TABS) {
    const tab = $(`tab-${t}`);
    const on = t === name;
    tab.setAttribute("aria-selected", on ? "true" : "false");
    tab.tabIndex = on ? 0 : -1;
    $(`panel-${t}`).hidden = !on;
    if (on && focus) tab.focus();
  }
  const want = name === "credentials" ? "" : `#${name}`;
  if (location.hash !== want && !(want === "" && location.hash === "#credentials")) {
    history.replaceState(null, "", want ? want : location.pathname + location.search);
  }
  if (name === "audit") loadAudit(true);
  if (name === "embed-users") loadEmbedUsers(true);
  if (name === "edges") startEdges();
  else stopEdges();
}

function onTabKey(e) {
  const i = TABS.indexOf(ui.tab);
  let next = null;
  if (e.key === "ArrowRight") next = TABS[(i + 1) % TABS.length];
  else if (e.key === "ArrowLeft") next = TABS[(i + TABS.length - 1) % TABS.length];
  else if (e.key === "Home") next = TABS[0];
  else if (e.key === "End") next = TABS[TABS.length - 1];
  if (next) {
    e.preventDefault();
    selectTab(next);
  }
}

// ------------------------------------------------------------------ credentials

/** Loads every credential, then re-renders whatever shows them. */
async function loadCredentials() {
  if (!state.token) return;
  const body = $("credentials-body");
  if (!ui.credentialsLoaded) {
    body.replaceChildren(h("div", { class: "loading", role: "status", text: "Loading credentials…" }));
  }
  body.setAttribute("aria-busy", "true");
  try {
    await fetchCredentials();
    ui.credentialsLoaded = true;
    renderCredentials();
    refreshPeopleViews();
  } catch (err) {
    if (endsSession(err)) return;
    body.replaceChildren(
      h(
        "div",
        { class: "alert alert-danger load-error", role: "alert" },
        h("span", { class: "alert-icon", "aria-hidden": "true", text: "!" }),
        h("div", {}, h("p", { text: `The credentials could not be loaded. ${describeError(err)}` }),
          h("button", { type: "button", class: "btn btn-sm", text: "Try again", on: { click: () => loadCredentials() } }))
      )
    );
  } finally {
    body.setAttribute("aria-busy", "false");
  }
}

function privilegeBadges(privileges) {
  return h(
    "div",
    { class: "badges" },
    privileges.map((p) =>
      h("span", { class: `badge ${p === "embedding" ? "badge-info" : "badge-neutral"}`, text: privilegeLabel(p), title: privilegeHelp(p) || undefined })
    )
  );
}

/** The badge (and its explanation) of a credential's status; unknown statuses show as themselves. */
function statusBadge(c) {
  switch (c.status) {
    case "active":
      return h("span", { class: "badge badge-success badge-dot", dataset: { testid: "cred-status", status: c.status }, text: "Active" });
    case "revoked":
      return h("span", { class: "badge badge-danger badge-dot", dataset: { testid: "cred-status", status: c.status }, text: "Revoked" });
    case "owner_inactive":
      return h("span", { class: "badge badge-warning badge-dot", dataset: { testid: "cred-status", status: c.status }, text: "Owner inactive" });
    default:
      return h("span", { class: "badge badge-neutral badge-dot", dataset: { testid: "cred-status", status: String(c.status) }, text: String(c.status) });
  }
}

function statusCell(c) {
  if (c.status === "revoked") {
    const when = c.revoked_at
      ? h("span", { class: "status-note", title: absoluteTime(c.revoked_at), text: `by ${c.revoked_by || "an admin"}, ${relativeTime(c.revoked_at)}` })
      : null;
    return h("td", { class: "status-cell" }, statusBadge(c), when);
  }
  if (c.status === "owner_inactive") {
    return h(
      "td",
      { class: "status-cell" },
      statusBadge(c),
      h("span", {
        class: "status-note",
        dataset: { testid: "owner-inactive-note" },
        title: "A deactivated member cannot be reactivated from the console. To keep an integration working, create new credentials owned by an active member.",
        text: "Owner deactivated: the edges refuse its tokens. Reactivation is not possible from the console.",
      })
    );
  }
  return h(
    "td",
    { class: "status-cell" },
    statusBadge(c),
    c.status === "active" && c.live_generations.length > 1
      ? h("span", { class: "status-note is-warning", dataset: { testid: "rotating-hint" }, text: usesPublicKeys(c) ? "2 live keys" : "2 live secrets" })
      : null
  );
}

function credentialMatches(c, q) {
  if (!q) return true;
  return [c.name, c.client_id, c.owner, c.description || ""].some((v) => v.toLowerCase().includes(q));
}

function countSummary(list) {
  const n = (s) => list.filter((c) => c.status === s).length;
  const parts = [`${n("active")} active`];
  if (n("owner_inactive")) parts.push(`${n("owner_inactive")} owner inactive`);
  if (n("revoked")) parts.push(`${n("revoked")} revoked`);
  return parts.join(" · ");
}

function renderCredentials() {
  const body = $("credentials-body");
  const list = state.credentials || [];
  // Unchanged data is not re-rendered: an open menu or the focus in the table stays.
  const signature = JSON.stringify([list, ui.credFilter, state.isAdmin]);
  if (signature === ui.credSignature && body.querySelector("table, .empty-state")) return;
  ui.credSignature = signature;
  $("cred-count").textContent = list.length === 0 ? "No credentials yet" : countSummary(list);
  $("cred-filter").closest(".filter").hidden = list.length < 2;
  if (list.length === 0) {
    body.replaceChildren(
      h(
        "div",
        { class: "empty-state", dataset: { testid: "empty-state" } },
        h("span", { class: "empty-icon", "aria-hidden": "true", text: "⚿" }),
        h("h3", { text: "No client credentials yet" }),
        h("p", {
          class: "muted",
          text: state.isAdmin
            ? "Create client credentials to sign embed tokens from your host app's server. You will see the embed secret once."
            : "An org admin has not created any client credentials yet.",
        }),
        state.isAdmin ? h("button", { type: "button", class: "btn btn-primary", text: "Create client credentials", on: { click: openCreate } }) : null
      )
    );
    return;
  }
  const q = ui.credFilter.trim().toLowerCase();
  const shown = list.filter((c) => credentialMatches(c, q));
  if (shown.length === 0) {
    body.replaceChildren(h("div", { class: "empty-state" }, h("p", { class: "muted", role: "status", text: `No credentials match “${ui.credFilter.trim()}”.` })));
    return;
  }
  const head = h(
    "tr",
    {},
    h("th", { scope: "col", class: "col-name", text: "Name" }),
    h("th", { scope: "col", class: "col-id", text: "Client ID" }),
    h("th", { scope: "col", class: "col-owner", text: "Owner" }),
    h("th", { scope: "col", class: "col-dates", text: "Created" }),
    h("th", { scope: "col", class: "col-status", text: "Status" }),
    state.isAdmin ? h("th", { scope: "col", class: "actions-cell" }, h("span", { class: "visually-hidden", text: "Actions" })) : null
  );
  const table = h(
    "table",
    { class: "data data-credentials", dataset: { testid: "credentials-table" } },
    h("caption", { class: "visually-hidden", text: `Client credentials of ${state.org}` }),
    h("thead", {}, head),
    h("tbody", {}, shown.map((c) => credentialRow(c)))
  );
  keepingFocus(body, "client-id", () => body.replaceChildren(scrollTable(table, "Client credentials")));
  if (q) announce(`${shown.length} of ${list.length} credentials shown`);
}

function ownerCell(c) {
  const type = c.owner_account_type ? accountTypeLabel(c.owner_account_type) : "Former member";
  return h(
    "td",
    { class: "col-owner" },
    h("span", { class: "owner-email" }, emailText(c.owner)),
    h("span", { class: "owner-type", text: c.status === "owner_inactive" ? `${type} · deactivated` : type })
  );
}

function credentialRow(c) {
  const cells = [
    h(
      "td",
      { class: "col-name" },
      h("span", { class: "cred-name", text: c.name }),
      c.description ? h("span", { class: "cred-desc small", text: c.description }) : null,
      h("span", { class: "visually-hidden", text: "Privileges: " }),
      privilegeBadges(c.privileges)
    ),
    h("td", { class: "col-id" }, idCell(c.client_id, { label: `client ID of ${c.name}`, what: "Client ID", testid: "row-client-id" }), keyCell(c)),
    ownerCell(c),
    h(
      "td",
      { class: "col-dates" },
      h("time", { datetime: new Date(c.created_at * 1000).toISOString(), title: `${absoluteTime(c.created_at)} by ${c.created_by}`, text: shortDate(c.created_at) }),
      h("span", { class: "last-used" }, c.last_used_at ? ["Used ", timeEl(c.last_used_at)] : "Never used")
    ),
    statusCell(c),
  ];
  if (state.isAdmin) {
    const menu = rowMenu(c);
    cells.push(h("td", { class: "actions-cell" }, menu || h("span", { class: "muted", "aria-label": "No actions: revoked", text: "—" })));
  }
  const cls = c.status === "revoked" ? "is-revoked" : c.status === "owner_inactive" ? "is-inactive" : "";
  return h("tr", { class: cls, dataset: { testid: "credential-row", clientId: c.client_id, status: String(c.status) } }, cells);
}

/**
 * Under the client ID: how the credential's tokens are signed (its
 * algorithm) and, for a public-key credential, the thumbprint of each live
 * key (current first, then the previous one while it is live).
 */
function keyCell(c) {
  if (!c.algorithm) return null;
  const keys = publicKeys(c);
  const line = h(
    "div",
    { class: "key-line", dataset: { testid: "row-algorithm", algorithm: c.algorithm } },
    h("span", { class: "visually-hidden", text: "Signing algorithm: " }),
    h("span", {
      class: `badge ${usesPublicKeys(c) ? "badge-info" : "badge-neutral"}`,
      title: usesPublicKeys(c) ? "Tokens signed with the host app's private key; embedgate holds the public key" : "Tokens signed with a generated embed secret",
      text: c.algorithm,
    })
  );
  const thumbs = keys.map((k, i) =>
    h(
      "div",
      { class: "key-thumb", dataset: { testid: "row-key", generation: String(k.generation), algorithm: k.algorithm || "" } },
      h("span", { class: "key-note", text: i === 0 ? "Key" : "Previous key" }),
      idCell(k.thumbprint, { label: `${i === 0 ? "key" : "previous key"} thumbprint of ${c.name}`, what: "Thumbprint", testid: "row-thumbprint" })
    )
  );
  return [line, ...thumbs];
}

/** The row's menu: rotate and retire only while active; revoke while not revoked. */
function rowMenu(c) {
  if (c.status === "revoked") return null;
  const items = [];
  if (c.status === "active") {
    const two = c.live_generations.length > 1;
    const what = usesPublicKeys(c) ? "key" : "secret";
    items.push(
      { label: `Rotate ${what}`, disabled: two, hint: `Two ${what}s are live: retire the previous one first`, onSelect: () => rotate(c) },
      { label: `Retire previous ${what}`, disabled: !two, hint: `Only one ${what} is live`, onSelect: () => confirmRetire(c) },
      "separator"
    );
  }
  items.push({ label: "Revoke", danger: true, onSelect: () => confirmRevoke(c) });
  return menuButton({ label: "More", ariaLabel: `More actions for ${c.name}`, testid: "row-more", items });
}

// ------------------------------------------------------------------ create

/** The value of a lifetime text box as the body carries it: a number when it is digits, else the text (refused). */
function integerOrText(text) {
  const t = text.trim();
  if (!t) return undefined;
  return /^[+-]?\d+$/.test(t) ? Number(t) : t;
}

async function openCreate() {
  await rulesReady();
  const r = rules();
  const activeMembers = (state.members || []).filter((m) => m.status === "active");
  const privBoxes = privilegeList().map((p, i) =>
    h("input", { type: "checkbox", name: "privileges", value: p, checked: i === 0, dataset: { testid: `create-priv-${p}` } })
  );
  const name = h("input", { type: "text", name: "name", required: true, autocomplete: "off", dataset: { testid: "create-name" } });
  const description = h("textarea", { name: "description", rows: "3", dataset: { testid: "create-description" } });
  const owner = h(
    "select",
    { name: "owner", required: true, dataset: { testid: "create-owner" } },
    h("option", { value: "", text: state.members ? "Select a member…" : "Loading members…" }),
    activeMembers.map((m) => h("option", { value: m.email, text: `${m.email} — ${accountTypeLabel(m.account_type)}` }))
  );
  const origins = h("textarea", { name: "allowed_origins", rows: "3", spellcheck: "false", placeholder: "https://app.example.com", dataset: { testid: "create-origins" } });
  // Any page may frame only when the admin says so, with the risk in view.
  const anyOrigin = h("input", { type: "checkbox", name: "any_origin", dataset: { testid: "create-any-origin" } });
  const anyWarning = h("p", {
    class: "hint warn",
    role: "note",
    hidden: true,
    dataset: { testid: "create-any-origin-warning" },
    text: "Any website will be able to frame these embeds, including one that tricks signed-in users into clicking inside them. List your app's origins instead unless the embeds are public.",
  });
  anyOrigin.addEventListener("change", () => {
    origins.disabled = anyOrigin.checked;
    anyWarning.hidden = !anyOrigin.checked;
  });
  const lifetime = h("input", { type: "text", name: "max_token_lifetime_s", inputmode: "numeric", autocomplete: "off", spellcheck: "false", dataset: { testid: "create-lifetime" } });
  const signingKey = signingKeyChoice();
  const publicKey = signingKey.textarea;
  const privError = h("p", { class: "error", id: newId("priv-error"), hidden: true });
  const formError = formErrorBox();

  const privFieldset = h(
    "fieldset",
    { "aria-describedby": privError.id },
    h("legend", { text: "Select privileges" }),
    privBoxes.map((box) =>
      h("label", { class: "check" }, box, h("span", {}, h("strong", { text: privilegeLabel(box.value) }), h("span", { class: "desc", text: privilegeHelp(box.value) })))
    ),
    privError
  );
  const advanced = h(
    "details",
    { class: "disclosure" },
    h("summary", { text: "Advanced" }),
    h(
      "div",
      { class: "disclosure-body" },
      formField({
        id: newId("origins"),
        label: "Allowed origins",
        control: origins,
        optional: true,
        hint: `Pages allowed to frame the embeds, one per line (e.g. https://app.example.com)${r ? `, at most ${r.allowed_origins_max}` : ""}. Empty: no page may frame them. 'self' (the edge's own origin, shared by every org) only if you list it.`,
      }),
      h("label", { class: "check-inline" }, anyOrigin, h("span", { text: "Allow any website to frame these embeds (*)" })),
      anyWarning,
      formField({
        id: newId("lifetime"),
        label: "Max token lifetime (seconds)",
        control: lifetime,
        optional: true,
        hint: r
          ? `The longest exp − iat a token may have, up to ${r.max_token_lifetime_s} (${humanSeconds(r.max_token_lifetime_s)}).`
          : "The longest exp − iat a token may have.",
      })
    )
  );
  const form = h(
    "form",
    { novalidate: true, dataset: { testid: "create-form" } },
    formError,
    privFieldset,
    formField({ id: newId("name"), label: "Name", control: name, hint: "Unique in the org (names of revoked credentials stay taken).", counter: charCounter(name, r && r.name_max_chars) }),
    formField({
      id: newId("description"),
      label: "Description",
      control: description,
      optional: true,
      hint: "What uses these credentials.",
      counter: charCounter(description, r && r.description_max_chars),
    }),
    formField({
      id: newId("owner"),
      label: "Owner",
      control: owner,
      hint: "The credentials can do what this member's account type allows: an admin owner may sign for any user; any other owner only as itself. If the owner is deactivated, the credentials stop working.",
    }),
    signingKey.fieldset,
    advanced
  );
  form.id = newId("create-form");
  // Outside the form element (in the modal footer) but submitting it, so Enter in a field submits too.
  const submit = h("button", { type: "submit", form: form.id, class: "btn btn-primary", text: "Create", dataset: { testid: "create-submit" } });

  for (const box of privBoxes) box.addEventListener("change", signingKey.refresh);
  const controls = { privileges: privBoxes, name, description, owner, public_key: publicKey, allowed_origins: origins, max_token_lifetime_s: lifetime };
  const ORDER = ["privileges", "name", "description", "owner", "public_key", "allowed_origins", "max_token_lifetime_s"];

  /** The value each field adds to the body (undefined: left out). */
  function valueOf(key) {
    switch (key) {
      case "privileges":
        return privBoxes.filter((c) => c.checked).map((c) => c.value);
      case "name":
        return name.value.trim() || undefined;
      case "description":
        return description.value.trim() ? description.value : undefined;
      case "owner":
        return owner.value || undefined;
      case "allowed_origins": {
        if (anyOrigin.checked) return ["*"];
        const list = origins.value.split("\n").map((s) => s.trim()).filter(Boolean);
        return list.length ? list : undefined;
      }
      case "max_token_lifetime_s":
        return integerOrText(lifetime.value);
      case "public_key":
        return signingKey.usesPublicKey() ? jwkValue(publicKey.value) : undefined;
      default:
        return undefined;
    }
  }
  function buildBody() {
    const body = {};
    for (const key of ORDER) {
      const v = valueOf(key);
      if (v !== undefined) body[key] = v;
    }
    return body;
  }
  /**
   * The module's sentence for one field's current value, or null. A field
   * left empty is checked as null: fine for the optional ones, the rule's
   * sentence for the required ones.
   */
  function check(key) {
    if (key === "public_key") return signingKey.usesPublicKey() ? checkPublicKey(publicKey.value) : null;
    const v = valueOf(key);
    const message = checkField(key, v === undefined ? null : v);
    if (message && key === "allowed_origins" && Array.isArray(v)) {
      const bad = v.findIndex((o) => checkField("allowed_origins", [o]));
      if (bad >= 0) return `${message}. Line ${bad + 1} is the first one refused.`;
    }
    return message;
  }
  function errorEl(key) {
    return key === "privileges" ? privError : fieldError(controls[key]);
  }
  function showError(key, message) {
    setFieldError(controls[key], errorEl(key), message);
    if (message && (key === "allowed_origins" || key === "max_token_lifetime_s")) advanced.open = true;
  }
  function focusField(key) {
    (key === "privileges" ? privBoxes[0] : controls[key]).focus();
  }
  function clearErrors() {
    for (const key of ORDER) showError(key, null);
    showFormError(formError, null);
  }
  // Hints as the admin goes: a filled field is checked when left, and its error cleared as soon as it is fixed.
  for (const key of ORDER) {
    const els = key === "privileges" ? privBoxes : [controls[key]];
    for (const el of els) {
      el.addEventListener(key === "privileges" || key === "owner" ? "change" : "blur", (e) => {
        // An empty field is only flagged on submit: tabbing through the form is not a mistake.
        if (key !== "privileges" && valueOf(key) === undefined) return;
        // Leaving the field for Create: the submit checks it. Shown now, the error would grow the
        // modal and move the button from under the pointer before the click lands.
        if (e.relatedTarget === submit) return;
        showError(key, check(key));
      });
      el.addEventListener("input", () => {
        if (el.getAttribute("aria-invalid") === "true" && !check(key)) showError(key, null);
      });
    }
  }

  let pending = false;
  const modal = openModal({
    title: "Create client credentials",
    description: "Client credentials (a client ID and an embed secret, or your host app's own key pair) sign the JWTs of your secure embeds.",
    testid: "create-modal",
    initialFocus: () => name,
    build: () => ({
      body: form,
      footer: [h("button", { type: "button", class: "btn", text: "Cancel", on: { click: () => modal.close() } }), submit],
    }),
  });
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    if (pending) return;
    clearErrors();
    const body = buildBody();
    // Every field's own rule (all of them at once), then the body as a whole, as the server checks it.
    const errors = {};
    for (const key of ORDER) {
      const m = check(key);
      if (m) errors[key] = m;
    }
    if (Object.keys(errors).length === 0) {
      // The key is checked above (the module's JWK rules); the rest of the body as the server checks it.
      const { public_key: _key, ...rest } = body; // eslint-disable-line no-unused-vars
      const whole = checkBody("credential", rest);
      if (!whole.ok) errors[controls[whole.field] ? whole.field : "body"] = whole.message;
    }
    const keys = ORDER.filter((k) => errors[k]);
    if (errors.body) showFormError(formError, errors.body);
    if (keys.length || errors.body) {
      for (const k of keys) showError(k, errors[k]);
      if (keys.length) focusField(keys[0]);
      announce(`${keys.length || 1} field${keys.length > 1 ? "s need" : " needs"} attention`);
      return;
    }
    pending = true;
    setPending(submit, true, "Creating…");
    try {
      const created = await call("POST", "/credentials", body);
      const secret = takeSecret(created);
      form.reset();
      modal.close();
      // A public-key credential has no secret: its algorithm and key thumbprint are shown instead.
      if (secret) showSecretModal(created, secret, false);
      else showPublicKeyModal(created, false);
      loadCredentials();
    } catch (err) {
      if (endsSession(err)) return;
      if (err instanceof ApiError && err.code === "invalid_input" && err.field && controls[err.field]) {
        showError(err.field, err.message);
        focusField(err.field);
      } else if (err instanceof ApiError && err.code === "name_taken") {
        showError("name", "A credential with this name already exists in the org (names of revoked ones stay taken). Choose another.");
        name.focus();
      } else {
        if (err instanceof ApiError && err.status === 403) recheckIdentity();
        showFormError(formError, describeError(err));
      }
    } finally {
      pending = false;
      if (submit.isConnected) setPending(submit, false);
    }
  });
}

// ------------------------------------------------------------------ public keys (ES256 / EdDSA credentials)

const JWK_PLACEHOLDER = '{"kty":"EC","crv":"P-256","x":"…","y":"…"}';

/** The body's `public_key`: the JWK as a JSON object, or the text when it is not one (the server then says why). */
function jwkValue(text) {
  const t = text.trim();
  if (!t) return undefined;
  try {
    const v = JSON.parse(t);
    return v && typeof v === "object" && !Array.isArray(v) ? v : t;
  } catch {
    return t;
  }
}

/**
 * Why `text` cannot be a credential's public key, or null: the module's
 * sentence for the `public_key` field (the server's 422, which never
 * repeats the key), or only the JSON shape without the module (the
 * server's 422 then says the rest).
 */
function checkPublicKey(text) {
  const t = text.trim();
  if (!t) return "public_key is required: paste the host app's public key as a JWK, or choose a generated secret.";
  if (!t.startsWith("{")) return "public_key is refused: it must be a JWK, JSON starting with { (PEM and other formats are not accepted).";
  const v = jwkValue(t);
  const message = checkField("public_key", v);
  if (message) return message;
  return typeof v === "object" ? null : "public_key is refused: it must be a JSON object.";
}

/**
 * A public-key textarea (`label`) that says, as it is typed, which key it
 * holds (algorithm and RFC 7638 thumbprint, by the module): returns
 * `{field, textarea, info}`; the error paragraph stays last in its
 * aria-describedby, as `fieldError` expects.
 */
function publicKeyField({ label, testid, hint }) {
  const textarea = h("textarea", {
    name: "public_key",
    rows: "5",
    class: "mono jwk-input",
    spellcheck: "false",
    autocapitalize: "off",
    autocomplete: "off",
    placeholder: JWK_PLACEHOLDER,
    dataset: { testid },
  });
  const field = formField({ id: newId("public-key"), label, control: textarea, hint });
  const info = h("p", { class: "hint key-info", id: newId("key-info"), role: "status", hidden: true, dataset: { testid: `${testid}-info` } });
  const errorEl = field.querySelector(".error");
  field.insertBefore(info, errorEl);
  const ids = textarea.getAttribute("aria-describedby").split(" ");
  ids.splice(ids.length - 1, 0, info.id);
  textarea.setAttribute("aria-describedby", ids.join(" "));
  const update = () => {
    const t = textarea.value.trim();
    const known = t.startsWith("{") ? publicKeyInfo(t) : null;
    if (known && known.thumbprint) {
      info.replaceChildren(`${known.algorithm} key · thumbprint `, h("code", { class: "thumbprint", text: known.thumbprint }));
      info.hidden = false;
    } else {
      info.replaceChildren();
      info.hidden = true;
    }
  };
  textarea.addEventListener("input", update);
  return { field, textarea, info };
}

/**
 * The create form's choice of signing key: a generated secret (HS256), or
 * the host app's own public key (ES256 or EdDSA) pasted as a JWK. Returns
 * `{fieldset, textarea, usesPublicKey(), refresh()}`.
 */
function signingKeyChoice() {
  const radios = [
    h("input", { type: "radio", name: "signing_key", value: "secret", checked: true, dataset: { testid: "create-key-secret" } }),
    h("input", { type: "radio", name: "signing_key", value: "public_key", dataset: { testid: "create-key-public" } }),
  ];
  const texts = {
    secret: ["Generated secret (HS256)", "embedgate generates an embed secret, shown once; your server signs tokens with it."],
    public_key: [
      "My own public key (ES256 or EdDSA JWK)",
      "Your host app signs tokens with its private key, which never leaves it; embedgate keeps only the public key, so nothing it stores can sign for you.",
    ],
  };
  const { field, textarea } = publicKeyField({
    label: "Public key (JWK)",
    testid: "create-public-key",
    hint: "The public half of your host app's key pair, as a JWK: P-256 (ES256) or Ed25519 (EdDSA). Never paste the private key (a JWK with a \"d\" member).",
  });
  field.hidden = true;
  const usesPublicKey = () => radios[1].checked;
  // The REST API's client-credentials grant authenticates with the secret: a key pair has none.
  const apiNote = h("p", {
    class: "hint warn",
    role: "note",
    hidden: true,
    dataset: { testid: "create-public-key-api-note" },
    text: "The REST API privilege needs a generated secret: with a public key these credentials cannot get API access tokens (private_key_jwt is not supported).",
  });
  const refresh = () => {
    field.hidden = !usesPublicKey();
    const api = field.closest("form") && field.closest("form").querySelector('input[name="privileges"][value="api"]');
    apiNote.hidden = !(usesPublicKey() && api && api.checked);
  };
  for (const r of radios) {
    r.addEventListener("change", () => {
      refresh();
      if (usesPublicKey()) textarea.focus();
    });
  }
  const fieldset = h(
    "fieldset",
    { class: "signing-key", dataset: { testid: "create-signing-key" } },
    h("legend", { text: "Signing key" }),
    radios.map((r) => h("label", { class: "check" }, r, h("span", {}, h("strong", { text: texts[r.value][0] }), h("span", { class: "desc", text: texts[r.value][1] })))),
    field,
    apiNote
  );
  // `refresh` again when the privileges (chosen above, in the same form) change.
  return { fieldset, textarea, usesPublicKey, refresh };
}

/** The live public keys of a credential's answer (current first; empty for a secret credential). */
function publicKeys(c) {
  return Array.isArray(c.public_keys) ? c.public_keys : [];
}

/** Whether a credential verifies with public keys (ES256 / EdDSA) rather than a generated secret. */
function usesPublicKeys(c) {
  return Boolean(c.algorithm && c.algorithm !== "HS256") || publicKeys(c).length > 0;
}

/**
 * After creating a public-key credential or rotating its key: no secret
 * to show once, but what identifies the key: the client ID, the algorithm
 * and the key's RFC 7638 thumbprint, to compare with the host app's.
 */
function showPublicKeyModal(credential, rotated) {
  const keys = publicKeys(credential);
  const current = keys.find((k) => k.generation === credential.generation) || keys[0] || {};
  const algorithm = current.algorithm || credential.algorithm || "";
  const clientField = copyField({ value: credential.client_id, label: "Client ID", testid: "client-id-value" });
  const thumbprintField = copyField({ value: current.thumbprint || "", label: "Key thumbprint", testid: "thumbprint-value" });
  return openModal({
    title: rotated ? "New public key in use" : "Credentials created",
    description: rotated ? `New key for “${credential.name}”.` : `Credentials for “${credential.name}”.`,
    testid: "public-key-modal",
    initialFocus: () => thumbprintField.querySelector("button"),
    onClose: () => announce(rotated ? "New key details closed." : "Credential details closed."),
    build: (api) => ({
      body: h(
        "div",
        {},
        h(
          "div",
          { class: "alert alert-info", role: "note" },
          h("span", { class: "alert-icon", "aria-hidden": "true", text: "i" }),
          h(
            "div",
            {},
            h("p", {
              text: `There is no embed secret: your host app signs its tokens (${algorithm || "ES256 or EdDSA"}) with its private key, which embedgate never sees. Put the client ID in each token's kid header.`,
            }),
            h("p", { text: "Compare the thumbprint with your key's (RFC 7638) to be sure this is the key you meant." }),
            rotated
              ? h("p", { text: "The previous key stays live until you choose “Retire previous key”, so you can switch your host app to the new private key first." })
              : null
          )
        ),
        h("div", { class: "field" }, h("span", { class: "field-label", text: "Client ID" }), clientField),
        h("div", { class: "field" }, h("span", { class: "field-label", text: "Algorithm" }), h("code", { class: "value", dataset: { testid: "algorithm-value" }, text: algorithm })),
        h(
          "div",
          { class: "field" },
          h("span", { class: "field-label", text: rotated ? "New key thumbprint" : "Key thumbprint" }),
          thumbprintField
        )
      ),
      footer: [h("button", { type: "button", class: "btn btn-primary", text: "Done", dataset: { testid: "public-key-done" }, on: { click: () => api.close() } })],
    }),
  });
}

/**
 * Rotating a public-key credential: the host app's new public JWK is
 * asked for (the server has no key to generate). The previous key stays
 * live until it is retired.
 */
function rotatePublicKey(c) {
  const { field, textarea } = publicKeyField({
    label: "New public key (JWK)",
    testid: "rotate-public-key",
    hint: "The public half of the host app's new key pair, as a JWK. Never paste the private key.",
  });
  const formError = formErrorBox();
  const form = h("form", { novalidate: true, id: newId("rotate-key-form") }, formError, field);
  const submit = h("button", { type: "submit", form: form.id, class: "btn btn-primary", text: "Rotate key", dataset: { testid: "rotate-key-submit" } });
  const current = publicKeys(c)[0];
  const showError = (message) => setFieldError(textarea, fieldError(textarea), message);
  const modal = openModal({
    title: `Rotate the key of “${c.name}”`,
    description: current ? `Current key: ${current.algorithm}, thumbprint ${current.thumbprint}.` : undefined,
    testid: "rotate-key-modal",
    initialFocus: () => textarea,
    returnFocus: rowFocus(c),
    build: (api) => ({
      body: form,
      footer: [h("button", { type: "button", class: "btn", text: "Cancel", on: { click: () => api.close() } }), submit],
    }),
  });
  textarea.addEventListener("input", () => {
    if (textarea.getAttribute("aria-invalid") === "true" && !checkPublicKey(textarea.value)) showError(null);
  });
  textarea.addEventListener("blur", (e) => {
    // Leaving for the submit button: the submit checks it (an error shown now could move the button).
    if (textarea.value.trim() && e.relatedTarget !== submit) showError(checkPublicKey(textarea.value));
  });
  let pending = false;
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    if (pending) return;
    showFormError(formError, null);
    const message = checkPublicKey(textarea.value);
    showError(message);
    if (message) {
      textarea.focus();
      announce("The public key needs attention");
      return;
    }
    pending = true;
    setPending(submit, true, "Rotating…");
    try {
      const answer = await call("POST", `/credentials/${encodeURIComponent(c.client_id)}/rotate`, { public_key: jwkValue(textarea.value) });
      // A public-key credential has no secret; should an answer carry one anyway, it is not kept.
      takeSecret(answer);
      modal.close();
      showPublicKeyModal(answer, true);
      loadCredentials();
    } catch (err) {
      if (endsSession(err)) return;
      if (err instanceof ApiError && err.code === "same_public_key") {
        showError("This is the key the credentials already use: paste the host app's new public key.");
        textarea.focus();
      } else if (err instanceof ApiError && err.field === "public_key") {
        showError(err.message);
        textarea.focus();
      } else if (err instanceof ApiError && err.code === "retire_first") {
        showFormError(formError, "Two keys are already live: retire the previous one first.");
      } else {
        if (err instanceof ApiError && err.status === 403) recheckIdentity();
        showFormError(formError, describeError(err));
      }
    } finally {
      pending = false;
      if (submit.isConnected) setPending(submit, false);
    }
  });
}

/** Removes the secret from an API answer and returns it (the answer keeps no copy). */
function takeSecret(answer) {
  const s = answer.secret;
  delete answer.secret;
  return s;
}

/**
 * A modal that shows secrets once (the "Access Credentials" modal, the
 * new secrets of an org key rotation). `build(warnId)` returns `{content,
 * actions?, focus?}`: the secrets' copy fields (described by the warning,
 * whose id is `warnId`), put after the warning that says the `warning`
 * lines; buttons put before Done; what has the focus first (else the
 * first Copy). The secrets live only in the content's nodes:
 * closing empties them and removes the modal, and `closed` is announced.
 * `beforeClose` is openModal's (asked when the user closes it, Done too);
 * `onClose` runs after.
 */
function openSecretsModal({ title, description, testid, doneTestid, wide = false, warning, build, closed, beforeClose, onClose, returnFocus }) {
  const warnId = newId("secret-warning");
  const { content, actions = [], focus } = build(warnId);
  const body = h(
    "div",
    {},
    h(
      "div",
      { class: "alert alert-warning secret-warning", id: warnId, role: "note" },
      h("span", { class: "alert-icon", "aria-hidden": "true", text: "!" }),
      h("div", {}, warning)
    ),
    content
  );
  const modal = openModal({
    title,
    description,
    wide,
    testid,
    returnFocus,
    beforeClose,
    initialFocus: () => focus || body.querySelector(".copy-field button"),
    build: () => ({
      body,
      footer: [...actions, h("button", { type: "button", class: "btn btn-primary", text: "Done", dataset: { testid: doneTestid }, on: { click: () => modal.requestClose() } })],
    }),
    onClose: () => {
      // The nodes are already detached; empty them too, in case anything still refers to them.
      for (const value of body.querySelectorAll(".copy-field .value")) value.textContent = "";
      body.replaceChildren();
      if (onClose) onClose();
      announce(closed);
    },
  });
  return modal;
}

/**
 * The "Access Credentials" modal. The secret text is put in one <code>
 * node; closing removes the modal's nodes and nothing else holds the text.
 */
function showSecretModal(credential, secretText, rotated) {
  openSecretsModal({
    title: "Access Credentials",
    description: rotated ? `New secret for “${credential.name}”.` : `Credentials for “${credential.name}”.`,
    testid: "secret-modal",
    doneTestid: "secret-done",
    warning: [
      h("p", { text: "This is the only time the embed secret is shown. Copy it and store it securely; you cannot retrieve it later." }),
      rotated
        ? h("p", {
            text: "The previous secret stays live until you choose “Retire previous secret”, so you can update your host app first.",
          })
        : null,
    ],
    build: (warnId) => {
      const secretField = copyField({ value: secretText, label: "Embed secret", testid: "secret-value", describedBy: warnId });
      // The node holds the only copy from here on.
      secretText = null; // eslint-disable-line no-param-reassign
      const clientField = copyField({ value: credential.client_id, label: "Client ID", testid: "client-id-value" });
      return {
        content: [
          h("div", { class: "field" }, h("span", { class: "field-label", text: "Client ID" }), clientField),
          h("div", { class: "field" }, h("span", { class: "field-label", text: rotated ? "New embed secret" : "Embed secret" }), secretField),
        ],
        focus: secretField.querySelector("button"),
      };
    },
    closed: "Access Credentials closed. The embed secret is no longer shown.",
  });
}

// ------------------------------------------------------------------ rotate / retire / revoke

async function rotate(c) {
  if (usesPublicKeys(c)) {
    rotatePublicKey(c);
    return;
  }
  try {
    const answer = await call("POST", `/credentials/${encodeURIComponent(c.client_id)}/rotate`);
    const secret = takeSecret(answer);
    showSecretModal(answer, secret, true);
    loadCredentials();
  } catch (err) {
    if (err instanceof ApiError && err.code === "retire_first") toast("Two secrets are already live: retire the previous one first.", "error");
    else handleError(err, `Rotating “${c.name}” failed`);
  }
}

/** Where focus goes when a row's dialog closes and the row was re-rendered: its More button, else Create New. */
function rowFocus(c) {
  return () => document.querySelector(`[data-testid=credential-row][data-client-id="${c.client_id}"] [data-testid=row-more]`) || $("create-new");
}

function confirmRetire(c) {
  const what = usesPublicKeys(c) ? "key" : "secret";
  const previous = publicKeys(c)[1];
  confirmDialog({
    title: `Retire previous ${what}?`,
    testid: "retire-dialog",
    returnFocus: rowFocus(c),
    confirmLabel: `Retire previous ${what}`,
    pendingLabel: "Retiring…",
    lines: [
      h("p", {}, `Tokens signed with the previous ${what} of `, h("span", { class: "confirm-name", text: c.name }), " stop verifying immediately."),
      previous ? h("p", { class: "muted small" }, "Previous key thumbprint ", h("code", { class: "thumbprint", text: previous.thumbprint })) : null,
      h("p", { class: "muted", text: usesPublicKeys(c) ? "Make sure every host app signs with the new private key first." : "Make sure every host app signs with the new secret first." }),
    ],
    action: async () => {
      try {
        await call("POST", `/credentials/${encodeURIComponent(c.client_id)}/retire-previous`);
        toast(`Retired the previous ${what} of “${c.name}”.`, "success");
        announce(`Retired the previous ${what} of ${c.name}`);
      } catch (err) {
        if (err instanceof ApiError && err.code === "no_previous") toast(`There is no previous ${what} to retire.`, "error");
        else handleError(err, `Retiring the previous ${what} of “${c.name}” failed`);
      }
      await loadCredentials();
    },
  });
}

function confirmRevoke(c) {
  confirmDialog({
    title: `Revoke “${c.name}”?`,
    testid: "revoke-dialog",
    returnFocus: rowFocus(c),
    confirmLabel: "Revoke",
    pendingLabel: "Revoking…",
    danger: true,
    lines: [
      h(
        "div",
        { class: "alert alert-danger" },
        h("span", { class: "alert-icon", "aria-hidden": "true", text: "!" }),
        h("p", {}, `Every embed signed with ${c.name} stops working immediately, including embeds already open. This cannot be undone.`)
      ),
      h("p", { class: "muted small" }, "Client ID ", h("code", { text: c.client_id })),
    ],
    action: async () => {
      try {
        await call("POST", `/credentials/${encodeURIComponent(c.client_id)}/revoke`);
        toast(`Revoked “${c.name}”.`, "success");
        announce(`Revoked ${c.name}`);
      } catch (err) {
        if (err instanceof ApiError && err.code === "already_revoked") toast(`“${c.name}” was already revoked.`, "info");
        else handleError(err, `Revoking “${c.name}” failed`);
      }
      await loadCredentials();
    },
  });
}

// ------------------------------------------------------------------ emergency key rotation

/** "3 credentials", "1 credential". */
function credentialCount(n) {
  return `${n} credential${n === 1 ? "" : "s"}`;
}

/**
 * The "Rotate org keys" confirmation: what happens, and the org's slug
 * typed to enable the button. On success the new secrets are shown once.
 */
function confirmRotateOrgKeys() {
  const org = state.org;
  const list = state.credentials || [];
  // Credentials with the host app's public key (live or revoked) hold nothing under the org's keys.
  const ownKeys = list.filter((c) => usesPublicKeys(c)).length;
  const revoked = list.filter((c) => c.status === "revoked" && !usesPublicKeys(c)).length;
  const live = list.length - revoked - ownKeys;
  let answer = null;
  confirmDialog({
    title: `Rotate the keys of ${org}?`,
    description: "An emergency measure, for an embed secret or org key that may have leaked.",
    testid: "rotate-keys-dialog",
    returnFocus: () => $("rotate-org-keys"),
    confirmLabel: "Rotate org keys",
    pendingLabel: "Rotating…",
    danger: true,
    lines: [
      h(
        "div",
        { class: "alert alert-danger" },
        h("span", { class: "alert-icon", "aria-hidden": "true", text: "!" }),
        h("p", { text: `Every embed of ${org} breaks until its host app signs with its new secret. This cannot be undone.` })
      ),
      h(
        "ul",
        { class: "consequences", dataset: { testid: "rotate-keys-consequences" } },
        h(
          "li",
          {},
          state.credentials
            ? `The org moves to new key material and each of its ${credentialCount(live)} gets a new embed secret. `
            : "The org moves to new key material and each of its credentials gets a new embed secret. ",
          "Every secret they have now, previous secrets of a rotation included, stops verifying at the edges as soon as they have the change (normally within seconds)."
        ),
        h("li", {}, "Every embed signed with an old secret is refused (", h("code", { text: "bad_signature" }), ") until its host app signs with the new secret of its credential."),
        h("li", { text: "Open embed sessions end: their users load the embeds again once the host app is updated." }),
        revoked ? h("li", { text: `The ${credentialCount(revoked)} revoked stay${revoked === 1 ? "s" : ""} revoked and get${revoked === 1 ? "s" : ""} no secret.` }) : null,
        ownKeys
          ? h("li", { text: `The ${credentialCount(ownKeys)} with the host app's own public key (ES256/EdDSA) ${ownKeys === 1 ? "is" : "are"} left alone: nothing of theirs derives from the org's keys.` })
          : null,
        h("li", { text: "The new secrets are shown once, right after: download them or copy each one then." })
      ),
    ],
    typeToConfirm: { expected: org, label: `Type ${org} to confirm`, hint: "The org's name exactly, as shown at the top of the page.", testid: "rotate-keys-confirm-text" },
    action: async () => {
      try {
        answer = await call("POST", "/keys/rotate", { confirm: org });
      } catch (err) {
        if (endsSession(err)) return;
        if (err instanceof ApiError && err.code === "invalid_input" && err.field === "confirm") throw dialogError(err.message, { field: "confirm" });
        if (err instanceof ApiError && err.status === 403) recheckIdentity();
        throw dialogError(`The keys were not rotated. ${describeError(err)}`);
      }
    },
    // The secrets' modal opens once this dialog is gone (focus back on the page's button first).
    onClose: () => {
      if (!answer) return;
      const rotated = answer;
      answer = null;
      showRotatedSecrets(rotated);
      loadCredentials();
      if (ui.tab === "audit") loadAudit(true);
    },
  });
}

/** `embedgate-<org>-secrets-<YYYY-MM-DD>.json` (today, local time). */
function secretsFileName(org) {
  const d = new Date();
  const pad = (n) => String(n).padStart(2, "0");
  return `embedgate-${org}-secrets-${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}.json`;
}

/**
 * Saves `[{client_id, name, generation, secret}]` as a JSON file: a Blob
 * behind an object URL, revoked as soon as the download has started. The
 * secrets are read from the modal's nodes now (nothing else holds them).
 */
function downloadSecrets(rows, fileName, near) {
  const json = rows.map((r) => ({ client_id: r.client_id, name: r.name, generation: r.generation, secret: r.node.textContent }));
  const url = URL.createObjectURL(new Blob([`${JSON.stringify(json, null, 2)}\n`], { type: "application/json" }));
  const link = h("a", { href: url, download: fileName, hidden: true });
  near.append(link);
  link.click();
  link.remove();
  URL.revokeObjectURL(url);
}

/**
 * The new secrets of an org key rotation, each shown once (name, client
 * ID, new secret with Copy), with Download (a JSON file of them all); the
 * revoked credentials listed without a secret. Closing asks first (the
 * secrets are not shown again) and removes them from the page.
 */
function showRotatedSecrets(answer) {
  const org = answer.org;
  const fileName = secretsFileName(org);
  const listed = Array.isArray(answer.credentials) ? answer.credentials : [];
  // Credentials with the host app's public key are left alone (`public_key`): nothing of theirs
  // derives from the org's keys. Should `credentials` list one without a secret, it is shown with them.
  const credentials = listed.filter((c) => typeof c.secret === "string");
  const ownKeys = [...(Array.isArray(answer.public_key) ? answer.public_key : []), ...listed.filter((c) => typeof c.secret !== "string")];
  const revoked = Array.isArray(answer.revoked) ? answer.revoked : [];
  let downloaded = false;
  let modal = null;
  // While the secrets show, leaving the page asks first too (not once they are gone, by sign-out too).
  const onUnload = (e) => {
    if (!modal || !modal.root.isConnected) {
      window.removeEventListener("beforeunload", onUnload);
      return;
    }
    e.preventDefault();
    e.returnValue = "";
  };
  const download = h("button", { type: "button", class: "btn", dataset: { testid: "rotated-download" } }, h("span", { "aria-hidden": "true", text: "⤓" }), h("span", { class: "btn-label", text: "Download secrets (JSON)" }));

  function confirmClose(close) {
    let confirmed = false;
    confirmDialog({
      title: "Close the new secrets?",
      testid: "rotated-close-dialog",
      confirmLabel: downloaded ? "Close the secrets" : "Close without saving",
      cancelLabel: "Keep them shown",
      danger: !downloaded,
      lines: [
        h("p", { text: "They will not be shown again: nobody can retrieve them later, not even an admin." }),
        downloaded
          ? h("p", { text: `You downloaded them (${fileName}). Keep that file safe, and delete it once every host app has its new secret.` })
          : h("p", { class: "confirm-self", text: "You have not downloaded them. Without them, the embeds of these credentials stay broken until the org's keys are rotated again." }),
      ],
      action: async () => {
        confirmed = true;
      },
      onClose: () => {
        if (confirmed) close();
      },
    });
  }

  modal = openSecretsModal({
    title: "New embed secrets",
    description: `${org} is on new key material (key epoch ${answer.epoch}).`,
    testid: "rotated-modal",
    doneTestid: "rotated-done",
    wide: true,
    returnFocus: () => $("rotate-org-keys"),
    warning: [
      h("p", {
        text: credentials.length
          ? "This is the only time these embed secrets are shown. Download them or copy each one now and store them securely; you cannot retrieve them later."
          : "The org has no live credentials: there is no new secret to hand out.",
      }),
      credentials.length ? h("p", {}, "Every embed of these credentials is refused (", h("code", { text: "bad_signature" }), ") until its host app signs with its new secret.") : null,
    ],
    build: (warnId) => {
      const rows = [];
      const items = credentials.map((c) => {
        const secret = takeSecret(c);
        const secretField = copyField({ value: secret, label: `New embed secret of ${c.name}`, testid: "rotated-secret", describedBy: warnId });
        rows.push({ client_id: c.client_id, name: c.name, generation: c.generation, node: secretField.querySelector(".value") });
        return h(
          "li",
          { class: "rotated-item", dataset: { testid: "rotated-credential", clientId: c.client_id } },
          h("div", { class: "rotated-head" }, h("span", { class: "cred-name", text: c.name }), h("span", { class: "badge badge-neutral", text: `Secret generation ${c.generation}` })),
          h("div", { class: "field" }, h("span", { class: "field-label", text: "Client ID" }), copyField({ value: c.client_id, label: `Client ID of ${c.name}`, testid: "rotated-client-id" })),
          h("div", { class: "field" }, h("span", { class: "field-label", text: "New embed secret" }), secretField)
        );
      });
      download.addEventListener("click", () => {
        downloadSecrets(rows, fileName, modal.dialog);
        downloaded = true;
        announce(`Downloaded ${fileName}`);
        download.querySelector(".btn-label").textContent = "Downloaded";
      });
      const content = [];
      if (items.length) {
        content.push(
          h("div", { class: "rotated-download" }, h("p", { class: "muted small" }, "One file with every secret below: ", h("code", { text: fileName }), "."), download),
          h("h3", { class: "rotated-title", text: `Live credentials (${items.length})` }),
          h("ul", { class: "rotated-list", dataset: { testid: "rotated-list" } }, items)
        );
      }
      if (ownKeys.length) {
        content.push(
          h("h3", { class: "rotated-title", text: `Credentials with the host app's public key (${ownKeys.length})` }),
          h("p", { class: "muted small", text: "Left alone: their tokens are signed with the host app's private key, and nothing of theirs derives from the org's keys." }),
          h(
            "ul",
            { class: "rotated-revoked", dataset: { testid: "rotated-public-key-list" } },
            ownKeys.map((c) => h("li", { dataset: { testid: "rotated-public-key", clientId: c.client_id } }, h("span", { class: "cred-name", text: c.name }), idCell(c.client_id, { label: `client ID of ${c.name}`, what: "Client ID" })))
          )
        );
      }
      if (revoked.length) {
        content.push(
          h("h3", { class: "rotated-title", text: `Revoked credentials (${revoked.length})` }),
          h("p", { class: "muted small", text: "Moved off the old key too. They stay revoked and have no secret." }),
          h(
            "ul",
            { class: "rotated-revoked", dataset: { testid: "rotated-revoked-list" } },
            revoked.map((c) => h("li", { dataset: { testid: "rotated-revoked", clientId: c.client_id } }, h("span", { class: "cred-name", text: c.name }), idCell(c.client_id, { label: `client ID of ${c.name}`, what: "Client ID" })))
          )
        );
      }
      return { content, actions: [], focus: items.length ? download : null };
    },
    beforeClose: credentials.length ? (close) => confirmClose(close) : undefined,
    onClose: () => window.removeEventListener("beforeunload", onUnload),
    closed: "New embed secrets closed. They are no longer shown.",
  });
  if (credentials.length) window.addEventListener("beforeunload", onUnload);
  announce(`Rotated the keys of ${org}: ${credentialCount(credentials.length)} with a new secret.`);
}

// ------------------------------------------------------------------ audit log

const ACTIONS = {
  "org.create": "Organization created",
  "member.create": "Member added",
  "member.update": "Member changed",
  "member.deactivate": "Member deactivated",
  "member.token_issue": "API token issued",
  "member.token_revoke": "API token revoked",
  "credential.create": "Credentials created",
  "credential.update": "Credentials changed",
  "credential.rotate": "Secret rotated",
  "credential.retire_previous": "Previous secret retired",
  "credential.revoke": "Credentials revoked",
  "credential.delete": "Credentials deleted",
  "credential.bulk_create": "Credentials bulk-loaded",
  "org.settings": "Settings changed",
  "org.key_create": "Org key created",
  "org.key_rewrap": "Org key re-wrapped (master key rotated)",
  "org.key_rotate": "Org keys rotated (emergency)",
};

function detailValue(v) {
  if (v === null || v === undefined) return "—";
  if (Array.isArray(v)) return v.map((x) => (typeof x === "object" ? JSON.stringify(x) : String(x))).join(", ");
  if (typeof v === "object") {
    if ("from" in v && "to" in v && Object.keys(v).length === 2) return `${v.from} → ${v.to}`;
    return JSON.stringify(v);
  }
  return String(v);
}

/**
 * A tab that only org admins may read: for anyone else, `body` says so
 * (`text`, test id `testid`) and the tab's refresh button hides. Whether
 * the caller is an admin (the tab then loads as usual).
 */
function adminsOnly(body, refresh, testid, text) {
  refresh.hidden = !state.isAdmin;
  if (state.isAdmin) return true;
  body.replaceChildren(
    h(
      "div",
      { class: "alert alert-info load-error", dataset: { testid } },
      h("span", { class: "alert-icon", "aria-hidden": "true", text: "i" }),
      h("p", { text })
    )
  );
  return false;
}

async function loadAudit(reset) {
  const body = $("audit-body");
  if (!adminsOnly(body, $("audit-refresh"), "audit-admin-only", "The audit log is available to org admins only.")) return;
  if (reset) {
    ui.auditItems = [];
    ui.auditNext = null;
    body.replaceChildren(h("div", { class: "loading", role: "status", text: "Loading the audit log…" }));
  }
  try {
    const q = ui.auditNext ? `?limit=50&before=${ui.auditNext}` : "?limit=50";
    const page = await call("GET", `/audit${q}`);
    ui.auditItems.push(...page.items);
    ui.auditNext = page.next_before;
    renderAudit();
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) return handleError(err);
    body.replaceChildren(h("div", { class: "alert alert-danger load-error", role: "alert" }, h("p", { text: `The audit log could not be loaded. ${describeError(err)}` })));
  }
}

function renderAudit() {
  const body = $("audit-body");
  if (ui.auditItems.length === 0) {
    body.replaceChildren(h("div", { class: "empty-state" }, h("p", { class: "muted", text: "No audit entries yet." })));
    return;
  }
  const names = new Map((state.credentials || []).map((c) => [c.client_id, c.name]));
  const rows = ui.auditItems.map((item) => {
    const detail = item.detail && typeof item.detail === "object" ? item.detail : {};
    const known = names.get(item.target);
    return h(
      "tr",
      { dataset: { testid: "audit-row" } },
      h(
        "td",
        { class: "col-when" },
        h("time", { datetime: new Date(item.at * 1000).toISOString(), title: `${absoluteTime(item.at)} (${relativeTime(item.at)})` }, h("span", { text: shortDate(item.at) }), h("span", { class: "time-of-day", text: timeOfDay(item.at) }))
      ),
      h("td", { class: "col-actor" }, h("span", { class: "owner-email" }, emailText(item.actor))),
      h("td", { class: "audit-action" }, ACTIONS[item.action] || item.action, h("code", { text: item.action })),
      h("td", { class: "col-target" }, known ? h("span", { class: "target-name", text: known }) : null, known ? h("span", { class: "target-id mono", text: item.target }) : h("span", { class: "owner-email" }, emailText(item.target))),
      h(
        "td",
        { class: "col-details" },
        Object.keys(detail).length
          ? h("div", { class: "kv" }, Object.entries(detail).map(([k, v]) => h("span", {}, h("b", { text: `${k.replaceAll("_", " ")}: ` }), detailValue(v))))
          : h("span", { class: "muted", text: "—" })
      )
    );
  });
  const more = ui.auditNext
    ? h("div", { class: "table-foot" }, h("button", { type: "button", class: "btn btn-sm", text: "Load older entries", on: { click: () => loadAudit(false) } }))
    : null;
  const table = h(
    "table",
    { class: "data data-audit", dataset: { testid: "audit-table" } },
    h("caption", { class: "visually-hidden", text: "Audit log, newest first" }),
    h("thead", {}, h("tr", {}, ["Time", "Actor", "Action", "Target", "Details"].map((t) => h("th", { scope: "col", text: t })))),
    h("tbody", {}, rows)
  );
  body.replaceChildren(scrollTable(table, "Audit log"), ...(more ? [more] : []));
}

// ------------------------------------------------------------------ embed users

/** Fills the credential filter from the loaded credentials, keeping the choice. */
function fillUsersFilter() {
  const select = $("embed-users-filter");
  const chosen = select.value;
  const options = (state.credentials || []).map((c) => h("option", { value: c.client_id, text: `${c.name} (${c.client_id})` }));
  select.replaceChildren(h("option", { value: "", text: "All" }), ...options);
  select.value = (state.credentials || []).some((c) => c.client_id === chosen) ? chosen : "";
}

async function loadEmbedUsers(reset) {
  const body = $("embed-users-body");
  if (!adminsOnly(body, $("embed-users-refresh"), "embed-users-admin-only", "Embed users are available to org admins only.")) return;
  if (reset) {
    fillUsersFilter();
    ui.usersItems = [];
    ui.usersNext = null;
    body.replaceChildren(h("div", { class: "loading", role: "status", text: "Loading embed users…" }));
  }
  try {
    const params = new URLSearchParams({ limit: "50" });
    const filter = $("embed-users-filter").value;
    if (filter) params.set("client_id", filter);
    if (ui.usersNext) params.set("cursor", ui.usersNext);
    const page = await call("GET", `/embed-users?${params}`);
    ui.usersItems.push(...page.users);
    ui.usersNext = page.next;
    renderEmbedUsers();
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) return handleError(err);
    body.replaceChildren(h("div", { class: "alert alert-danger load-error", role: "alert" }, h("p", { text: `Embed users could not be loaded. ${describeError(err)}` })));
  }
}

function renderEmbedUsers() {
  const body = $("embed-users-body");
  if (ui.usersItems.length === 0) {
    body.replaceChildren(h("div", { class: "empty-state" }, h("p", { class: "muted", text: "No embed loads reported yet." })));
    return;
  }
  const names = new Map((state.credentials || []).map((c) => [c.client_id, c.name]));
  const when = (at) =>
    h("time", { datetime: new Date(at * 1000).toISOString(), title: `${absoluteTime(at)} (${relativeTime(at)})` }, h("span", { text: shortDate(at) }), h("span", { class: "time-of-day", text: timeOfDay(at) }));
  const rows = ui.usersItems.map((u) => {
    const known = names.get(u.client_id);
    return h(
      "tr",
      { dataset: { testid: "embed-user-row" } },
      h("td", { class: "col-actor" }, h("span", { class: "owner-email" }, emailText(u.email))),
      h("td", { class: "col-target" }, known ? h("span", { class: "target-name", text: known }) : null, h("span", { class: "target-id mono", text: u.client_id })),
      h("td", { text: u.account_type || "—" }),
      h("td", { text: u.teams.length ? u.teams.join(", ") : "—" }),
      h("td", { class: "col-when" }, when(u.first_seen)),
      h("td", { class: "col-when" }, when(u.last_seen)),
      h("td", { class: "num", text: String(u.loads) })
    );
  });
  const more = ui.usersNext
    ? h("div", { class: "table-foot" }, h("button", { type: "button", class: "btn btn-sm", text: "Load more", dataset: { testid: "embed-users-more" }, on: { click: () => loadEmbedUsers(false) } }))
    : null;
  const table = h(
    "table",
    { class: "data data-embed-users", dataset: { testid: "embed-users-table" } },
    h("caption", { class: "visually-hidden", text: "Embed users, latest last seen first" }),
    h("thead", {}, h("tr", {}, ["User", "Credentials", "Account type", "Teams", "First seen", "Last seen", "Loads"].map((t) => h("th", { scope: "col", text: t })))),
    h("tbody", {}, rows)
  );
  body.replaceChildren(scrollTable(table, "Embed users"), ...(more ? [more] : []));
}

// ------------------------------------------------------------------ edges

const EDGE_STATES = {
  in_sync: ["In sync", "badge-success"],
  behind: ["Behind", "badge-warning"],
  ahead: ["Ahead", "badge-warning"],
  unreachable: ["Unreachable", "badge-danger"],
  unknown: ["Unknown", "badge-neutral"],
};

function startEdges() {
  stopEdges();
  const body = $("edges-body");
  if (!body.firstChild) body.replaceChildren(h("div", { class: "loading", role: "status", text: "Loading edge status…" }));
  refreshEdges();
  ui.edgesTimer = setInterval(() => {
    if (document.visibilityState === "visible") refreshEdges();
  }, 2000);
}

function stopEdges() {
  if (ui.edgesTimer) clearInterval(ui.edgesTimer);
  ui.edgesTimer = null;
}

async function refreshEdges() {
  if (ui.edgesInFlight || !state.token) return;
  ui.edgesInFlight = true;
  try {
    // Every edge's detail is for platform operators; everyone else sees what their org may see.
    if (!ui.edgesOrgView) {
      try {
        renderEdges(await api(state.token, "GET", "/api/v1/edges"));
        return;
      } catch (err) {
        if (!(err instanceof ApiError && err.code === "operator_only")) throw err;
        ui.edgesOrgView = true;
      }
    }
    renderOrgEdges(await api(state.token, "GET", `/api/v1/orgs/${encodeURIComponent(state.org)}/edges`));
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) {
      handleError(err);
      return;
    }
    $("edges-sub").textContent = `Refresh failed: ${describeError(err)} Retrying…`;
  } finally {
    ui.edgesInFlight = false;
  }
}

function renderEdges(data) {
  $("edges-version").textContent = `Admin state version ${data.state_version}`;
  $("edges-sub").textContent = `Refreshes every 2 seconds while this tab is open · updated ${new Date().toLocaleTimeString()}`;
  const body = $("edges-body");
  if (!data.edges.length) {
    body.replaceChildren(
      h("div", { class: "empty-state" }, h("h3", { text: "No edges configured" }), h("p", { class: "muted" }, "Start the admin with ", h("code", { text: "EMBEDGATE_EDGES" }), " to push credentials to edges."))
    );
    return;
  }
  const rows = data.edges.map((e) => {
    const [label, cls] = EDGE_STATES[e.state] || [e.state, "badge-neutral"];
    const behindBy = e.applied_version !== null ? data.state_version - e.applied_version : null;
    return h(
      "tr",
      { dataset: { testid: "edge-row" } },
      h("td", {}, h("code", { text: e.url })),
      h("td", {}, h("span", { class: `badge badge-dot ${cls}`, text: label })),
      h("td", {}, e.applied_version === null ? h("span", { class: "muted", text: "Never reached" }) : h("span", {}, String(e.applied_version), behindBy > 0 ? h("span", { class: "muted", text: ` (${behindBy} behind)` }) : null)),
      h("td", {}, `${e.lag_seconds.toFixed(e.lag_seconds < 10 ? 1 : 0)} s`),
      h("td", {}, e.last_ack_at ? timeEl(e.last_ack_at) : h("span", { class: "muted", text: "Never" })),
      h("td", {}, e.last_error ? h("span", { class: "edge-error", text: e.last_error }) : h("span", { class: "muted", text: "None" }),
        e.consecutive_failures ? h("span", { class: "owner-type", text: `${e.consecutive_failures} failures in a row` }) : null)
    );
  });
  const table = h(
    "table",
    { class: "data data-edges", dataset: { testid: "edges-table" } },
    h("caption", { class: "visually-hidden", text: "Edge sync status" }),
    h("thead", {}, h("tr", {}, ["Edge", "Status", "Applied version", "Lag", "Last ack", "Last error"].map((t) => h("th", { scope: "col", text: t })))),
    h("tbody", {}, rows)
  );
  body.replaceChildren(scrollTable(table, "Edge sync status"));
}

/** The org's view of the edges: whether each has this org's latest change, no URL or key. */
function renderOrgEdges(data) {
  $("edges-version").textContent = `Org version ${data.org_version}`;
  $("edges-sub").textContent = `Whether each edge has your organization's latest change · refreshes every 2 seconds · updated ${new Date().toLocaleTimeString()}`;
  const body = $("edges-body");
  if (!data.edges.length) {
    body.replaceChildren(h("div", { class: "empty-state" }, h("h3", { text: "No edges configured" }), h("p", { class: "muted", text: "Ask your platform operator." })));
    return;
  }
  const rows = data.edges.map((e) => {
    const [label, cls] = EDGE_STATES[e.state] || [e.state, "badge-neutral"];
    return h(
      "tr",
      { dataset: { testid: "edge-row" } },
      h("td", {}, h("code", { text: e.edge })),
      h("td", {}, h("span", { class: `badge badge-dot ${cls}`, text: label })),
      h("td", {}, e.has_latest ? "Yes" : h("span", { class: "muted", text: "Not yet" })),
      h("td", {}, `${e.lag_seconds.toFixed(e.lag_seconds < 10 ? 1 : 0)} s`)
    );
  });
  const table = h(
    "table",
    { class: "data data-edges", dataset: { testid: "edges-table" } },
    h("caption", { class: "visually-hidden", text: "Edge sync status for your organization" }),
    h("thead", {}, h("tr", {}, ["Edge", "Status", "Has your latest change", "Lag"].map((t) => h("th", { scope: "col", text: t })))),
    h("tbody", {}, rows)
  );
  body.replaceChildren(scrollTable(table, "Edge sync status for your organization"));
}

// ------------------------------------------------------------------ start

function start() {
  setHooks({
    unauthorized: () => signOut(SESSION_ENDED),
    forbidden: () => recheckIdentity(),
    recheckIdentity: () => recheckIdentity(),
    reloadCredentials: () => loadCredentials(),
  });
  // The rules load beside the sign-in; the forms work without them (the server's answers show).
  loadRules();
  $("signin-form").addEventListener("submit", onSignin);
  $("signin-token").addEventListener("input", () => {
    if ($("signin-token").getAttribute("aria-invalid")) setFieldError($("signin-token"), $("signin-token-error"), null);
  });
  $("signout").addEventListener("click", () => signOut());
  $("create-new").addEventListener("click", openCreate);
  $("rotate-org-keys").addEventListener("click", confirmRotateOrgKeys);
  $("audit-refresh").addEventListener("click", () => loadAudit(true));
  $("embed-users-refresh").addEventListener("click", () => loadEmbedUsers(true));
  $("embed-users-filter").addEventListener("change", () => loadEmbedUsers(true));
  $("cred-filter").addEventListener("input", (e) => {
    ui.credFilter = e.target.value;
    renderCredentials();
  });
  for (const t of TABS) {
    $(`tab-${t}`).addEventListener("click", () => selectTab(t));
    $(`tab-${t}`).addEventListener("keydown", onTabKey);
  }
  window.addEventListener("hashchange", () => route({ focus: true }));
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible" && ui.page === "access" && ui.tab === "edges" && state.token) refreshEdges();
  });
  const token = loadToken();
  if (!token) {
    showSignin();
    return;
  }
  enterApp(token).catch((err) => {
    if (err instanceof ApiError && err.status === 401) {
      clearSession();
      showSignin(SESSION_ENDED);
    } else {
      // Keep the session (maybe the server is restarting) but show why.
      showSignin(`Could not reach Developer Access: ${describeError(err)}`);
    }
  });
}

start();
