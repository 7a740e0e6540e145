// The People pages of the console: the member list (#people) and one
// member (#people/<email>) with their API tokens and the credentials they
// own. Admins add members, change account types, invite members, revoke API
// tokens and deactivate members; everyone else sees a read-only list.
//
// A member API token is issued only to its own member (issue 14): on your
// own page you issue yourself one (for automation), choosing its lifetime;
// for anyone else an admin creates an invitation, a one-time code the
// member redeems (POST /api/v1/invitations/redeem) for a token of their
// own, which the admin never sees. Tokens expire; the table shows when.
//
// An issued API token or invitation code is shown once: it goes straight
// into one <code> node of its modal and is deleted from the answer; closing
// the modal removes the nodes (the Copy button reads the node at click time).

import { ApiError, describeError } from "./api.js";
import { $, call, endsSession, handleError, hooks, loadMembers, memberHref, putMember, state } from "./app.js";
import { accountTypeHelp, accountTypeLabel, accountTypes, checkBody, checkField, rules, rulesReady } from "./rules.js";
import {
  absoluteTime,
  announce,
  confirmDialog,
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
  toast,
} from "./ui.js";

const view = {
  /** What is shown: "people", "member" or null. */
  page: null,
  email: null,
  filter: "",
  /** The tokens of the member shown (null: not loaded), and for whom. */
  tokens: null,
  tokensFor: null,
  tokensError: null,
  /** Modals opened here (closed on sign-out). */
  modals: new Set(),
  /** What the list and the member page were last rendered from (skip identical re-renders). */
  listSignature: null,
  memberSignature: null,
};

function track(modal) {
  view.modals.add(modal);
  return modal;
}

/** The People pages are not shown any more. */
export function leavePeople() {
  view.page = null;
  view.email = null;
  view.listSignature = null;
  view.memberSignature = null;
}

/** Closes the modals of these pages (sign-out). */
export function closePeopleModals() {
  for (const m of [...view.modals]) m.close();
  view.modals.clear();
}

function isMe(email) {
  return email === state.email;
}

function ownedBy(email) {
  return (state.credentials || []).filter((c) => c.owner === email);
}

function statusBadge(status) {
  if (status === "active") return h("span", { class: "badge badge-success badge-dot", dataset: { testid: "member-status", status }, text: "Active" });
  if (status === "deactivated") return h("span", { class: "badge badge-neutral badge-dot", dataset: { testid: "member-status", status }, text: "Deactivated" });
  return h("span", { class: "badge badge-neutral badge-dot", dataset: { testid: "member-status", status: String(status) }, text: String(status) });
}

function typeBadge(type) {
  return h("span", { class: `badge ${type === "admin" ? "badge-info" : "badge-neutral"}`, dataset: { testid: "member-type", type }, text: accountTypeLabel(type) });
}

/** Re-renders whichever People page is shown (after members or credentials loaded; `err`: the members failed). */
export function refreshPeopleViews(err) {
  if (view.page === "people") renderPeopleList(err);
  else if (view.page === "member") renderMember(err);
}

// ------------------------------------------------------------------ the list

/** Shows #people: the list from what is loaded, then refreshed from the server. */
export function renderPeoplePage() {
  view.page = "people";
  view.email = null;
  renderPeopleList();
  refreshMembers();
}

async function refreshMembers() {
  $("people-body").setAttribute("aria-busy", "true");
  try {
    await loadMembers();
    refreshPeopleViews();
  } catch (err) {
    if (!endsSession(err)) refreshPeopleViews(err);
  } finally {
    $("people-body").setAttribute("aria-busy", "false");
  }
}

function loadError(err, retry) {
  return h(
    "div",
    { class: "alert alert-danger load-error", role: "alert" },
    h("span", { class: "alert-icon", "aria-hidden": "true", text: "!" }),
    h("div", {}, h("p", { text: `The members could not be loaded. ${describeError(err)}` }), h("button", { type: "button", class: "btn btn-sm", text: "Try again", on: { click: retry } }))
  );
}

function renderPeopleList(err) {
  const body = $("people-body");
  const members = state.members;
  // Unchanged data is not re-rendered: an open menu or the focus in the table stays.
  const signature = JSON.stringify([members, state.credentials && state.credentials.map((c) => [c.owner, c.status]), view.filter, state.isAdmin, state.email, Boolean(err)]);
  if (signature === view.listSignature && body.firstChild) return;
  view.listSignature = signature;
  if (!members) {
    body.replaceChildren(err ? loadError(err, () => refreshMembers()) : h("div", { class: "loading", role: "status", text: "Loading members…" }));
    return;
  }
  const active = members.filter((m) => m.status === "active").length;
  $("people-count").textContent = `${active} active${members.length > active ? ` · ${members.length - active} deactivated` : ""}`;
  $("people-filter").closest(".filter").hidden = members.length < 2;
  const q = view.filter.trim().toLowerCase();
  const shown = members.filter((m) => !q || m.email.includes(q));
  if (shown.length === 0) {
    body.replaceChildren(h("div", { class: "empty-state" }, h("p", { class: "muted", role: "status", text: q ? `No members match “${view.filter.trim()}”.` : "No members." })));
    return;
  }
  const head = h(
    "tr",
    {},
    h("th", { scope: "col", class: "col-email", text: "Email" }),
    h("th", { scope: "col", text: "Account type" }),
    h("th", { scope: "col", text: "Status" }),
    h("th", { scope: "col", text: "Credentials" }),
    h("th", { scope: "col", text: "Added" }),
    state.isAdmin ? h("th", { scope: "col", class: "actions-cell" }, h("span", { class: "visually-hidden", text: "Actions" })) : null
  );
  const table = h(
    "table",
    { class: "data data-people", dataset: { testid: "people-table" } },
    h("caption", { class: "visually-hidden", text: `Members of ${state.org}` }),
    h("thead", {}, head),
    h("tbody", {}, shown.map(memberRow))
  );
  keepingFocus(body, "email", () => body.replaceChildren(scrollTable(table, "Members")));
  if (q) announce(`${shown.length} of ${members.length} members shown`);
}

function memberRow(m) {
  const owned = ownedBy(m.email);
  const live = owned.filter((c) => c.status !== "revoked").length;
  const you = isMe(m.email) ? h("span", { class: "badge badge-neutral you", text: "You" }) : null;
  const emailCell = state.isAdmin
    ? h("td", { class: "col-email" }, h("a", { class: "member-link", href: memberHref(m.email), dataset: { testid: "member-link" } }, emailText(m.email)), you)
    : h("td", { class: "col-email" }, h("span", { class: "member-email" }, emailText(m.email)), you);
  const cells = [
    emailCell,
    h("td", {}, typeBadge(m.account_type)),
    h("td", {}, statusBadge(m.status)),
    h("td", {}, state.credentials ? h("span", { text: live === 0 ? "None" : String(live), class: live === 0 ? "muted" : "" }) : h("span", { class: "muted", text: "…" })),
    h("td", {}, h("time", { datetime: new Date(m.created_at * 1000).toISOString(), title: absoluteTime(m.created_at), text: shortDate(m.created_at) })),
  ];
  if (state.isAdmin) cells.push(h("td", { class: "actions-cell" }, memberMenu(m)));
  return h("tr", { class: m.status === "deactivated" ? "is-revoked" : "", dataset: { testid: "member-row", email: m.email, status: m.status } }, cells);
}

function memberMenu(m) {
  const items = [{ label: "API tokens", onSelect: () => (location.hash = memberHref(m.email)) }];
  if (m.status === "active") {
    items.push(
      { label: "Change account type…", onSelect: () => openChangeType(m) },
      "separator",
      { label: "Deactivate…", danger: true, onSelect: () => confirmDeactivate(m) }
    );
  }
  return menuButton({ label: "Manage", ariaLabel: `Manage ${m.email}`, testid: "member-more", items });
}

// ------------------------------------------------------------------ one member

/** Shows #people/<email>. */
export function renderMemberPage(email) {
  const same = view.page === "member" && view.email === email;
  view.page = "member";
  view.email = email;
  if (!same) {
    view.tokens = null;
    view.tokensFor = null;
    view.tokensError = null;
  }
  $("member-crumb").textContent = email;
  renderMember();
  if (!state.members) refreshMembers();
  if (state.isAdmin) loadTokens(email);
}

async function loadTokens(email) {
  try {
    const res = await call("GET", `/members/${encodeURIComponent(email)}/tokens`);
    if (view.email !== email) return;
    view.tokens = Array.isArray(res.tokens) ? res.tokens : [];
    view.tokensFor = email;
    view.tokensError = null;
  } catch (err) {
    if (endsSession(err)) return;
    if (err instanceof ApiError && err.status === 403) hooks.forbidden();
    if (view.email !== email) return;
    view.tokensError = err;
  }
  if (view.page === "member" && view.email === email) renderMember();
}

function member(email) {
  return (state.members || []).find((m) => m.email === email) || null;
}

function renderMember(err) {
  const body = $("member-body");
  const email = view.email;
  const signature = JSON.stringify([
    email,
    member(email),
    view.tokens,
    view.tokensFor,
    String(view.tokensError && view.tokensError.message),
    state.credentials && ownedBy(email),
    state.isAdmin,
    state.email,
    Boolean(state.members),
    Boolean(err),
  ]);
  if (signature === view.memberSignature && body.firstChild) return;
  view.memberSignature = signature;
  if (!state.members) {
    body.replaceChildren(err ? loadError(err, () => refreshMembers()) : h("div", { class: "loading", role: "status", text: "Loading the member…" }));
    return;
  }
  const m = member(email);
  if (!m) {
    body.replaceChildren(
      h("div", { class: "page-head" }, h("div", {}, h("h1", { tabindex: "-1", text: "No such member" }), h("p", { class: "muted", text: `${email} is not a member of ${state.org}.` }))),
      h("p", {}, h("a", { href: "#people", text: "Back to People" }))
    );
    return;
  }
  // Focus inside is put back on the same control (or the heading) after the re-render.
  const focused = document.activeElement;
  const refocus = focused && body.contains(focused) ? (focused.tagName === "H1" ? "h1" : focused.dataset.testid ? `[data-testid="${focused.dataset.testid}"]` : null) : null;
  const actions = state.isAdmin && m.status === "active"
    ? h(
        "div",
        { class: "page-actions" },
        h("button", { type: "button", class: "btn", text: "Change account type", dataset: { testid: "member-change-type" }, on: { click: () => openChangeType(m) } }),
        h("button", { type: "button", class: "btn btn-danger-outline", text: "Deactivate", dataset: { testid: "member-deactivate" }, on: { click: () => confirmDeactivate(m) } })
      )
    : null;
  const head = h(
    "div",
    { class: "page-head" },
    h(
      "div",
      { class: "member-head" },
      h("h1", { tabindex: "-1", class: "member-title" }, h("span", {}, emailText(m.email)), isMe(m.email) ? h("span", { class: "badge badge-neutral you", text: "You" }) : null),
      h(
        "p",
        { class: "member-meta" },
        typeBadge(m.account_type),
        statusBadge(m.status),
        h("span", { class: "muted small" }, "Added ", h("time", { datetime: new Date(m.created_at * 1000).toISOString(), title: absoluteTime(m.created_at), text: shortDate(m.created_at) }))
      ),
      h("p", { class: "muted small", text: accountTypeHelp(m.account_type) })
    ),
    actions
  );
  const deactivated =
    m.status === "deactivated"
      ? h(
          "div",
          { class: "alert alert-warning", dataset: { testid: "member-deactivated-note" } },
          h("span", { class: "alert-icon", "aria-hidden": "true", text: "!" }),
          h("p", { text: "This member is deactivated: their API tokens are refused and the client credentials they own are inactive (the edges refuse their tokens). A member cannot be reactivated from the console." })
        )
      : null;
  const readOnly = !state.isAdmin
    ? h("div", { class: "alert alert-info" }, h("span", { class: "alert-icon", "aria-hidden": "true", text: "i" }), h("p", { text: "Only org admins can see and manage a member's API tokens." }))
    : null;
  body.replaceChildren(...[head, deactivated, readOnly, state.isAdmin ? tokensCard(m) : null, ownedCard(m)].filter(Boolean));
  if (refocus) {
    const again = body.querySelector(refocus);
    if (again) again.focus();
  }
}

/** Lifetimes offered for a new token of your own (the server caps them at its maximum). */
const TOKEN_LIFETIMES = [
  ["1 day", 86400],
  ["7 days", 7 * 86400],
  ["30 days", 30 * 86400],
  ["90 days", 90 * 86400],
];

function issueControls(m) {
  if (m.status !== "active") return null;
  if (m.email !== state.email) {
    return h("button", { type: "button", class: "btn btn-primary", dataset: { testid: "invite-member" }, on: { click: () => inviteMember(m) } }, h("span", { "aria-hidden": "true", text: "+" }), " Invite");
  }
  const lifetimeId = newId("token-lifetime");
  const lifetime = h(
    "select",
    { id: lifetimeId, class: "input input-sm", dataset: { testid: "token-lifetime" } },
    TOKEN_LIFETIMES.map(([label, seconds]) => h("option", { value: String(seconds), text: label, selected: seconds === 30 * 86400 }))
  );
  return h(
    "div",
    { class: "inline-controls" },
    h("label", { for: lifetimeId, class: "muted small", text: "Expires in " }),
    lifetime,
    h("button", { type: "button", class: "btn btn-primary", dataset: { testid: "issue-token" }, on: { click: () => issueToken(m, { expiresIn: Number(lifetime.value) }) } }, h("span", { "aria-hidden": "true", text: "+" }), " Issue token")
  );
}

function tokensCard(m) {
  const issue = issueControls(m);
  let content;
  if (view.tokensError) {
    content = h(
      "div",
      { class: "alert alert-danger load-error", role: "alert" },
      h("span", { class: "alert-icon", "aria-hidden": "true", text: "!" }),
      h("div", {}, h("p", { text: `The API tokens could not be loaded. ${describeError(view.tokensError)}` }), h("button", { type: "button", class: "btn btn-sm", text: "Try again", on: { click: () => loadTokens(m.email) } }))
    );
  } else if (view.tokens === null || view.tokensFor !== m.email) {
    content = h("div", { class: "loading", role: "status", text: "Loading API tokens…" });
  } else if (view.tokens.length === 0) {
    content = h(
      "div",
      { class: "empty-state compact" },
      h("p", {
        class: "muted",
        text:
          m.status !== "active"
            ? "No API tokens."
            : m.email === state.email
              ? "No API tokens."
              : "No API tokens. Invite this member: they redeem the one-time code for a token of their own.",
      })
    );
  } else {
    const table = h(
      "table",
      { class: "data data-tokens", dataset: { testid: "tokens-table" } },
      h("caption", { class: "visually-hidden", text: `API tokens of ${m.email}, newest first` }),
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          h("th", { scope: "col", class: "col-id", text: "Token ID" }),
          h("th", { scope: "col", text: "Issued" }),
          h("th", { scope: "col", text: "Issued by" }),
          h("th", { scope: "col", text: "Expires" }),
          h("th", { scope: "col", text: "Status" }),
          h("th", { scope: "col", class: "actions-cell" }, h("span", { class: "visually-hidden", text: "Actions" }))
        )
      ),
      h("tbody", {}, view.tokens.map((t) => tokenRow(m, t)))
    );
    content = scrollTable(table, `API tokens of ${m.email}`);
  }
  const live = view.tokens && view.tokensFor === m.email ? view.tokens.filter((t) => !t.revoked_at && !isExpired(t)).length : null;
  return h(
    "section",
    { class: "card section-card", "aria-labelledby": "tokens-title" },
    h(
      "div",
      { class: "card-header" },
      h(
        "div",
        {},
        h("h2", { class: "card-title", id: "tokens-title", text: "API tokens" }),
        h("p", {
          class: "muted small card-sub",
          text:
            m.status === "active"
              ? `Sign in to this console and call the admin API as ${m.email}. A token is issued only to its own member, shown once, and expires.${live !== null ? ` ${live} active.` : ""}`
              : "Every token of a deactivated member is refused, revoked or not.",
        })
      ),
      issue
    ),
    content
  );
}

/** Whether a token is past its expiry (by this browser's clock; the server decides). */
function isExpired(t) {
  return typeof t.expires_at === "number" && t.expires_at * 1000 <= Date.now();
}

function tokenRow(m, t) {
  const revoked = Boolean(t.revoked_at);
  const expired = !revoked && isExpired(t);
  const status = revoked
    ? h("td", { class: "status-cell" }, h("span", { class: "badge badge-danger badge-dot", text: "Revoked" }), h("span", { class: "status-note", title: absoluteTime(t.revoked_at), text: relativeTime(t.revoked_at) }))
    : expired
      ? h("td", { class: "status-cell" }, h("span", { class: "badge badge-neutral badge-dot", text: "Expired" }))
      : m.status === "active"
      ? h("td", { class: "status-cell" }, h("span", { class: "badge badge-success badge-dot", text: "Active" }))
      : h("td", { class: "status-cell" }, h("span", { class: "badge badge-warning badge-dot", text: "Refused" }), h("span", { class: "status-note", text: "The member is deactivated." }));
  return h(
    "tr",
    { class: revoked || expired ? "is-revoked" : "", dataset: { testid: "token-row", tokenId: t.id, state: revoked ? "revoked" : expired ? "expired" : "active" } },
    h("td", { class: "col-id" }, idCell(t.id, { label: `token ID ${t.id}`, what: "Token ID", testid: "token-id", copy: false })),
    h("td", {}, timeEl(t.created_at)),
    h("td", {}, h("span", { class: "owner-email" }, emailText(t.created_by))),
    h("td", { dataset: { testid: "token-expires" } }, typeof t.expires_at === "number" ? timeEl(t.expires_at) : "—"),
    status,
    h(
      "td",
      { class: "actions-cell" },
      revoked || expired
        ? h("span", { class: "muted", "aria-label": `No actions: ${revoked ? "revoked" : "expired"}`, text: "—" })
        : h("button", { type: "button", class: "btn btn-sm btn-danger-outline", "aria-label": `Revoke token ${t.id.slice(0, 8)}…`, dataset: { testid: "revoke-token" }, text: "Revoke", on: { click: () => confirmRevokeToken(m, t) } })
    )
  );
}

function ownedCard(m) {
  const owned = ownedBy(m.email);
  let content;
  if (!state.credentials) content = h("div", { class: "loading", role: "status", text: "Loading credentials…" });
  else if (owned.length === 0) content = h("div", { class: "empty-state compact" }, h("p", { class: "muted", text: "Owns no client credentials." }));
  else {
    const table = h(
      "table",
      { class: "data data-owned", dataset: { testid: "owned-table" } },
      h("caption", { class: "visually-hidden", text: `Client credentials owned by ${m.email}` }),
      h("thead", {}, h("tr", {}, h("th", { scope: "col", class: "col-name", text: "Name" }), h("th", { scope: "col", class: "col-id", text: "Client ID" }), h("th", { scope: "col", text: "Status" }))),
      h(
        "tbody",
        {},
        owned.map((c) =>
          h(
            "tr",
            { class: c.status === "revoked" ? "is-revoked" : "", dataset: { testid: "owned-row", clientId: c.client_id, status: c.status } },
            h("td", { class: "col-name" }, h("span", { class: "cred-name", text: c.name })),
            h("td", { class: "col-id" }, idCell(c.client_id, { label: `client ID of ${c.name}`, what: "Client ID" })),
            h("td", {}, credentialStatus(c.status))
          )
        )
      )
    );
    content = scrollTable(table, `Client credentials owned by ${m.email}`);
  }
  return h(
    "section",
    { class: "card section-card", "aria-labelledby": "owned-title" },
    h(
      "div",
      { class: "card-header" },
      h(
        "div",
        {},
        h("h2", { class: "card-title", id: "owned-title", text: "Client credentials owned" }),
        h("p", { class: "muted small card-sub", text: "They sign as this member's account type allows, and stop working if the member is deactivated." })
      ),
      h("a", { class: "btn btn-sm", href: "#credentials", text: "All credentials" })
    ),
    content
  );
}

function credentialStatus(status) {
  const [text, cls] = { active: ["Active", "badge-success"], revoked: ["Revoked", "badge-danger"], owner_inactive: ["Owner inactive", "badge-warning"] }[status] || [String(status), "badge-neutral"];
  return h("span", { class: `badge badge-dot ${cls}`, text });
}

/** After a member changed: their row's Manage button on the list, else the member page's heading. */
function memberFocus(email) {
  const sel = `[data-testid=member-row][data-email="${CSS.escape(email)}"] [data-testid=member-more]`;
  const onPage = document.querySelector("[data-testid=member-change-type]") || document.querySelector("#page-member h1");
  return (view.page === "people" ? document.querySelector(sel) : onPage) || document.querySelector("#page-people h1");
}

// ------------------------------------------------------------------ account type picker

/** A radio group of the account types (from the module), `current` checked. */
function typePicker(name, current, testid) {
  const errorEl = h("p", { class: "error", id: newId("type-error"), hidden: true });
  const radios = [];
  const options = accountTypes().map((t) => {
    const radio = h("input", { type: "radio", name, value: t, checked: t === current, dataset: { testid: `${testid}-${t}` } });
    radios.push(radio);
    return h("label", { class: "check" }, radio, h("span", {}, h("strong", { text: accountTypeLabel(t) }), h("span", { class: "desc", text: accountTypeHelp(t) })));
  });
  const fieldset = h("fieldset", { "aria-describedby": errorEl.id }, h("legend", { text: "Account type" }), options, errorEl);
  return {
    fieldset,
    radios,
    value: () => (radios.find((r) => r.checked) || {}).value,
    setError: (message) => setFieldError(radios, errorEl, message),
    focus: () => (radios.find((r) => r.checked) || radios[0]).focus(),
  };
}

// ------------------------------------------------------------------ add a member

export async function openAddMember() {
  await rulesReady();
  const r = rules();
  const email = h("input", { type: "email", name: "email", required: true, autocomplete: "off", spellcheck: "false", autocapitalize: "off", dataset: { testid: "member-email" } });
  const types = accountTypes();
  const picker = typePicker(newId("new-type"), types.includes("viewer") ? "viewer" : types[types.length - 1], "member-type");
  const issue = h("input", { type: "checkbox", name: "issue", checked: true, dataset: { testid: "member-invite" } });
  const formError = formErrorBox();
  const form = h(
    "form",
    { novalidate: true, dataset: { testid: "add-member-form" } },
    formError,
    formField({ id: newId("email"), label: "Email", control: email, hint: r ? `Their address, ${r.email_chars[0]} to ${r.email_chars[1]} characters. It cannot be changed later.` : "Their address. It cannot be changed later." }),
    picker.fieldset,
    h("label", { class: "check-inline issue-now" }, issue, h("span", { text: "Create an invitation now (a one-time code, shown once, for them to redeem for their own API token)" }))
  );
  form.id = newId("add-member-form");
  const submit = h("button", { type: "submit", form: form.id, class: "btn btn-primary", text: "Add member", dataset: { testid: "add-member-submit" } });
  const showEmailError = (message) => setFieldError(email, fieldError(email), message);
  email.addEventListener("blur", () => {
    if (email.value.trim()) showEmailError(checkField("email", email.value.trim()));
  });
  email.addEventListener("input", () => {
    if (email.getAttribute("aria-invalid") === "true" && !checkField("email", email.value.trim())) showEmailError(null);
  });
  for (const radio of picker.radios) radio.addEventListener("change", () => picker.setError(null));

  let pending = false;
  const modal = track(
    openModal({
      title: "Add a member",
      description: `They join ${state.org} with the account type you choose.`,
      testid: "add-member-modal",
      initialFocus: () => email,
      onClose: () => view.modals.delete(modal),
      build: () => ({ body: form, footer: [h("button", { type: "button", class: "btn", text: "Cancel", on: { click: () => modal.close() } }), submit] }),
    })
  );
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    if (pending) return;
    showFormError(formError, null);
    const body = { email: email.value.trim(), account_type: picker.value() };
    if (!body.account_type) delete body.account_type;
    const emailMsg = checkField("email", body.email);
    const typeMsg = body.account_type ? checkField("account_type", body.account_type) : null;
    showEmailError(emailMsg);
    picker.setError(typeMsg);
    if (!emailMsg && !typeMsg) {
      const whole = checkBody("member", body);
      if (!whole.ok) {
        if (whole.field === "email") showEmailError(whole.message);
        else if (whole.field === "account_type") picker.setError(whole.message);
        else showFormError(formError, whole.message);
        if (whole.field === "email") email.focus();
        else if (whole.field === "account_type") picker.focus();
        return;
      }
    } else {
      (emailMsg ? email : picker).focus();
      return;
    }
    pending = true;
    setPending(submit, true, "Adding…");
    try {
      const added = await call("POST", "/members", body);
      putMember(added);
      const wantInvite = issue.checked;
      modal.close();
      toast(`Added ${added.email} as ${accountTypeLabel(added.account_type)}.`, "success");
      announce(`Added ${added.email}`);
      refreshPeopleViews();
      if (wantInvite) await inviteMember(added, { afterAdd: true });
    } catch (err) {
      if (endsSession(err)) return;
      if (err instanceof ApiError && err.code === "member_exists") {
        showEmailError(describeError(err));
        email.focus();
      } else if (err instanceof ApiError && err.code === "invalid_input" && err.field === "email") {
        showEmailError(err.message);
        email.focus();
      } else if (err instanceof ApiError && err.code === "invalid_input" && err.field === "account_type") {
        picker.setError(err.message);
        picker.focus();
      } else {
        if (err instanceof ApiError && err.status === 403) hooks.forbidden();
        showFormError(formError, describeError(err));
      }
    } finally {
      pending = false;
      if (submit.isConnected) setPending(submit, false);
    }
  });
}

// ------------------------------------------------------------------ change the account type

function openChangeType(m) {
  const picker = typePicker(newId("change-type"), m.account_type, "change-type");
  const formError = formErrorBox();
  const self = isMe(m.email) && m.account_type === "admin";
  const form = h(
    "form",
    { novalidate: true, dataset: { testid: "change-type-form" } },
    formError,
    picker.fieldset,
    h("p", { class: "muted small", text: "Credentials this member owns sign as the new type allows; the edges learn the change within seconds." }),
    self
      ? h("div", { class: "alert alert-warning" }, h("span", { class: "alert-icon", "aria-hidden": "true", text: "!" }), h("p", { text: "This is you: if you leave Admin, this console becomes read-only for you." }))
      : null
  );
  form.id = newId("change-type-form");
  const submit = h("button", { type: "submit", form: form.id, class: "btn btn-primary", text: "Save", dataset: { testid: "change-type-submit" } });
  for (const radio of picker.radios) radio.addEventListener("change", () => picker.setError(null));
  let pending = false;
  const modal = track(
    openModal({
      title: `Change the account type of ${m.email}`,
      testid: "change-type-modal",
      returnFocus: () => memberFocus(m.email),
      initialFocus: () => picker.radios.find((r) => r.checked) || picker.radios[0],
      onClose: () => view.modals.delete(modal),
      build: () => ({ body: form, footer: [h("button", { type: "button", class: "btn", text: "Cancel", on: { click: () => modal.close() } }), submit] }),
    })
  );
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    if (pending) return;
    showFormError(formError, null);
    const body = { account_type: picker.value() };
    if (!body.account_type) delete body.account_type;
    const whole = checkBody("member_patch", body);
    if (!whole.ok) {
      if (whole.field === "account_type") picker.setError(whole.message);
      else showFormError(formError, whole.message);
      picker.focus();
      return;
    }
    if (body.account_type === m.account_type) {
      modal.close();
      announce("Account type unchanged");
      return;
    }
    pending = true;
    setPending(submit, true, "Saving…");
    try {
      const updated = await call("PATCH", `/members/${encodeURIComponent(m.email)}`, body);
      putMember(updated);
      modal.close();
      toast(`${updated.email} is now ${accountTypeLabel(updated.account_type)}.`, "success");
      announce(`${updated.email} is now ${accountTypeLabel(updated.account_type)}`);
      refreshPeopleViews();
      // The owner's type shows in the credentials table; my own change changes what I may do.
      hooks.reloadCredentials();
      if (isMe(updated.email)) await hooks.recheckIdentity();
    } catch (err) {
      if (endsSession(err)) return;
      if (err instanceof ApiError && err.code === "last_admin") {
        picker.setError(describeError(err));
        picker.focus();
      } else if (err instanceof ApiError && err.code === "invalid_input" && err.field === "account_type") {
        picker.setError(err.message);
        picker.focus();
      } else {
        if (err instanceof ApiError && err.status === 403) hooks.forbidden();
        showFormError(formError, describeError(err));
      }
    } finally {
      pending = false;
      if (submit.isConnected) setPending(submit, false);
    }
  });
}

// ------------------------------------------------------------------ deactivate

async function confirmDeactivate(m) {
  // What breaks: their live tokens (asked now) and the credentials they own (as loaded).
  let liveTokens = null;
  try {
    const res = await call("GET", `/members/${encodeURIComponent(m.email)}/tokens`);
    liveTokens = (res.tokens || []).filter((t) => !t.revoked_at).length;
  } catch (err) {
    if (endsSession(err)) return;
    liveTokens = null;
  }
  const owned = ownedBy(m.email).filter((c) => c.status === "active");
  const self = isMe(m.email);
  const tokensLine =
    liveTokens === null
      ? "Every API token of theirs stops working at once: scripts, the CLI and console sessions using them are refused."
      : liveTokens === 0
        ? "They have no active API tokens."
        : `Their ${liveTokens} active API token${liveTokens === 1 ? "" : "s"} stop${liveTokens === 1 ? "s" : ""} working at once: scripts, the CLI and console sessions using ${liveTokens === 1 ? "it" : "them"} are refused.`;
  const shownNames = owned.slice(0, 6);
  const credLines =
    owned.length === 0
      ? [h("li", { text: "They own no active client credentials." })]
      : [
          h(
            "li",
            {},
            owned.length === 1
              ? "The 1 active client credential they own becomes inactive: the edges refuse the tokens it signs, so the embeds of your host app signed with it stop working, including embeds already open:"
              : `The ${owned.length} active client credentials they own become inactive: the edges refuse the tokens they sign, so the embeds of your host app signed with them stop working, including embeds already open:`,
            h(
              "ul",
              { class: "owned-list", dataset: { testid: "deactivate-credentials" } },
              shownNames.map((c) => h("li", {}, h("span", { class: "confirm-name", text: c.name }), " ", h("code", { class: "muted", text: `${c.client_id.slice(0, 8)}…` }))),
              owned.length > shownNames.length ? h("li", { class: "muted", text: `and ${owned.length - shownNames.length} more` }) : null
            )
          ),
        ];
  const modal = confirmDialog({
    title: `Deactivate ${m.email}?`,
    testid: "deactivate-dialog",
    returnFocus: () => memberFocus(m.email),
    confirmLabel: "Deactivate member",
    pendingLabel: "Deactivating…",
    danger: true,
    lines: [
      h(
        "div",
        { class: "alert alert-danger" },
        h("span", { class: "alert-icon", "aria-hidden": "true", text: "!" }),
        h(
          "div",
          {},
          h("p", { text: "This takes effect immediately and cannot be undone from the console:" }),
          h("ul", { class: "consequences", dataset: { testid: "deactivate-consequences" } }, h("li", { text: tokensLine }), credLines)
        )
      ),
      self ? h("p", { class: "confirm-self", text: "This is you: you will be signed out." }) : null,
      h("p", { class: "muted small", text: "Their email stays taken in the org; to give them access again, an admin would have to use another address." }),
    ],
    action: async () => {
      try {
        const updated = await call("POST", `/members/${encodeURIComponent(m.email)}/deactivate`);
        putMember(updated);
      } catch (err) {
        if (err instanceof ApiError && err.code === "last_admin") throw dialogError(describeError(err));
        if (endsSession(err)) return;
        throw dialogError(describeError(err));
      }
      toast(`Deactivated ${m.email}.`, "success");
      announce(`Deactivated ${m.email}`);
      refreshPeopleViews();
      if (view.page === "member" && view.email === m.email) loadTokens(m.email);
      await hooks.reloadCredentials();
      if (self) await hooks.recheckIdentity();
    },
  });
  track(modal);
}

// ------------------------------------------------------------------ API tokens

/** Issues a token of your own (the server refuses one for anyone else: 403 own_tokens_only). */
async function issueToken(m, { expiresIn } = {}) {
  let answer;
  try {
    answer = await call("POST", `/members/${encodeURIComponent(m.email)}/tokens`, expiresIn ? { expires_in_s: expiresIn } : undefined);
  } catch (err) {
    handleError(err, "Issuing an API token failed");
    return;
  }
  const token = answer.token;
  delete answer.token;
  showTokenModal(answer, token);
  if (view.page === "member" && view.email === m.email) loadTokens(m.email);
}

/** An invitation for a member without a live token: its code shown once. */
async function inviteMember(m, { afterAdd = false } = {}) {
  let answer;
  try {
    answer = await call("POST", `/members/${encodeURIComponent(m.email)}/invitations`);
  } catch (err) {
    handleError(err, afterAdd ? `${m.email} was added, but creating their invitation failed` : `Inviting ${m.email} failed`);
    return;
  }
  const code = answer.code;
  delete answer.code;
  showInvitationModal(answer, code);
}

/** The "Invitation" modal: the code shown once. */
function showInvitationModal(answer, code) {
  track(
    showOnceModal({
      title: "Invitation",
      description: `For ${answer.email}.`,
      label: "Invitation code",
      value: code,
      testid: "invitation",
      lines: [
        "This is the only time the invitation code is shown. Hand it to its member securely.",
        `It works once, until ${absoluteTime(answer.expires_at)}: ${answer.email} exchanges it for an API token of their own (POST /api/v1/invitations/redeem with {"code": …}), which you never see.`,
      ],
      closed: "Invitation closed. The code is no longer shown.",
      onClose: (modal) => view.modals.delete(modal),
    })
  );
}

/** The "New API token" modal: the token shown once. */
function showTokenModal(answer, token) {
  track(
    showOnceModal({
      title: "New API token",
      description: `For ${answer.email}.`,
      label: "API token",
      value: token,
      testid: "token",
      lines: [
        "This is the only time the API token is shown. Copy it into your automation's secret store; it cannot be retrieved later.",
        `Anyone holding it acts as ${answer.email} in ${state.org}, this console and the admin API, until ${absoluteTime(answer.expires_at)} or until it is revoked.`,
      ],
      extra: h("p", { class: "muted small" }, "Token ID ", h("code", { text: answer.id })),
      closed: "New API token closed. The token is no longer shown.",
      onClose: (modal) => view.modals.delete(modal),
    })
  );
}

function confirmRevokeToken(m, t) {
  const modal = confirmDialog({
    title: "Revoke this API token?",
    description: `A token of ${m.email}.`,
    testid: "revoke-token-dialog",
    returnFocus: () => document.querySelector("[data-testid=issue-token]") || document.querySelector("[data-testid=invite-member]") || document.querySelector("#page-member h1"),
    confirmLabel: "Revoke token",
    pendingLabel: "Revoking…",
    danger: true,
    lines: [
      h(
        "div",
        { class: "alert alert-danger" },
        h("span", { class: "alert-icon", "aria-hidden": "true", text: "!" }),
        h("p", { text: "Anything using it (scripts, the CLI, a console session) is refused immediately. This cannot be undone." })
      ),
      h("p", { class: "muted small" }, "Token ID ", h("code", { text: t.id }), ", issued ", h("time", { title: absoluteTime(t.created_at), text: shortDate(t.created_at) }), ` by ${t.created_by}.`),
      isMe(m.email) ? h("p", { class: "confirm-self", text: "This is one of your own tokens: if it is the one you signed in with, you will be signed out." }) : null,
    ],
    action: async () => {
      try {
        await call("POST", `/members/${encodeURIComponent(m.email)}/tokens/${encodeURIComponent(t.id)}/revoke`);
      } catch (err) {
        if (endsSession(err)) return;
        throw dialogError(describeError(err));
      }
      toast("Token revoked.", "success");
      announce(`Revoked token ${t.id.slice(0, 8)}`);
      await loadTokens(m.email);
    },
  });
  track(modal);
}

// ------------------------------------------------------------------ wiring

function start() {
  $("add-member").addEventListener("click", openAddMember);
  $("people-filter").addEventListener("input", (e) => {
    view.filter = e.target.value;
    renderPeopleList();
  });
}

start();
