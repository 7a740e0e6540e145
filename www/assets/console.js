// The Developer Access console (/): sign in with a member token, list the
// org's embed credentials, create / rotate / retire / revoke them (admins),
// the audit log and the edges' sync status.
//
// Secrets: a create or rotate answer's secret goes straight into one
// <code> node of the "Access Credentials" modal and the property is
// deleted from the answer; nothing else keeps it (no variable outlives the
// call, the Copy button reads the node at click time). Closing the modal
// removes its nodes from the document.

import { api, ApiError, clearSession, describeError, loadSession, saveSession } from "./api.js";
import {
  announce,
  absoluteTime,
  copyFrom,
  copyField,
  h,
  menuButton,
  newId,
  openModal,
  relativeTime,
  setPending,
  shortDate,
  timeEl,
  toast,
} from "./ui.js";

const ORG_RE = /^[a-z0-9-]{1,63}$/;
const ACCOUNT_TYPES = { admin: "Admin", creator: "Creator", explorer: "Explorer", viewer: "Viewer" };
const PRIVILEGES = { embedding: "Embedding", api: "REST API" };
const MAX_LIFETIME = 2592000;

const state = {
  org: null,
  token: null,
  isAdmin: false,
  members: [],
  credentials: [],
  loaded: false,
  tab: "credentials",
  edgesTimer: null,
  edgesInFlight: false,
  auditNext: null,
  auditItems: [],
};

const $ = (id) => document.getElementById(id);

// ------------------------------------------------------------------ sign in / out

function showSignin(message) {
  stopEdges();
  state.token = null;
  state.org = null;
  state.credentials = [];
  state.members = [];
  state.loaded = false;
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
  const org = $("signin-org");
  (org.value ? $("signin-token") : org).focus();
}

function setFieldError(input, errorEl, message) {
  if (message) {
    input.setAttribute("aria-invalid", "true");
    errorEl.textContent = message;
    errorEl.hidden = false;
  } else {
    input.removeAttribute("aria-invalid");
    errorEl.textContent = "";
    errorEl.hidden = true;
  }
}

async function onSignin(e) {
  e.preventDefault();
  const orgInput = $("signin-org");
  const tokenInput = $("signin-token");
  const org = orgInput.value.trim().toLowerCase();
  const token = tokenInput.value.trim();
  let bad = false;
  if (!ORG_RE.test(org)) {
    setFieldError(orgInput, $("signin-org-error"), "Enter the org slug: 1 to 63 of a–z, 0–9 and “-”.");
    bad = true;
  } else setFieldError(orgInput, $("signin-org-error"), null);
  if (!token) {
    setFieldError(tokenInput, $("signin-token-error"), "Enter your API token.");
    bad = true;
  } else if (!token.startsWith("egt_")) {
    setFieldError(tokenInput, $("signin-token-error"), "Member API tokens start with egt_ (an embed secret, egs_…, does not sign in).");
    bad = true;
  } else setFieldError(tokenInput, $("signin-token-error"), null);
  if (bad) {
    (orgInput.getAttribute("aria-invalid") ? orgInput : tokenInput).focus();
    return;
  }
  const button = $("signin-submit");
  setPending(button, true, "Signing in…");
  $("signin-message").hidden = true;
  try {
    await enterApp(org, token, { fromForm: true });
    tokenInput.value = "";
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) {
      setFieldError(tokenInput, $("signin-token-error"), "This token was not accepted: it is unknown, revoked, or its member was deactivated.");
      tokenInput.focus();
    } else if (err instanceof ApiError && err.status === 404) {
      setFieldError(orgInput, $("signin-org-error"), "No such organization for this token.");
      orgInput.focus();
    } else {
      $("signin-message-text").textContent = describeError(err);
      $("signin-message").hidden = false;
    }
  } finally {
    setPending(button, false);
  }
}

/** Checks the token against the org, learns the role and shows the console. */
async function enterApp(org, token) {
  const members = await api(token, "GET", `/api/v1/orgs/${encodeURIComponent(org)}/members`);
  let isAdmin = false;
  try {
    await api(token, "GET", `/api/v1/orgs/${encodeURIComponent(org)}/audit?limit=1`);
    isAdmin = true;
  } catch (err) {
    if (!(err instanceof ApiError && err.status === 403)) throw err;
  }
  saveSession(org, token);
  state.org = org;
  state.token = token;
  state.isAdmin = isAdmin;
  state.members = members.members || [];
  renderShell();
  await loadCredentials();
}

function signOut(message) {
  clearSession();
  closeAllModals();
  showSignin(message);
  if (!message) announce("Signed out");
}

function closeAllModals() {
  for (const el of document.querySelectorAll(".modal-backdrop")) el.remove();
  for (const el of document.querySelectorAll("[data-app-root]")) {
    el.inert = false;
    el.removeAttribute("aria-hidden");
  }
}

/** Routes an API failure: 401 ends the session, the rest become a toast. */
function handleError(err, context) {
  if (err instanceof ApiError && err.status === 401) {
    signOut("Your session ended: the API token was rejected (revoked, or its member was deactivated). Sign in again.");
    return;
  }
  const text = describeError(err);
  toast(context ? `${context}: ${text}` : text, "error");
}

async function call(method, path, body) {
  return api(state.token, method, `/api/v1/orgs/${encodeURIComponent(state.org)}${path}`, body);
}

// ------------------------------------------------------------------ shell and tabs

function renderShell() {
  $("signin-view").hidden = true;
  $("app-view").hidden = false;
  $("org-name").textContent = state.org;
  $("role-badge").textContent = state.isAdmin ? "Admin" : "Member (read-only)";
  $("role-badge").className = `badge ${state.isAdmin ? "badge-info" : "badge-neutral"}`;
  $("create-new").hidden = !state.isAdmin;
  $("readonly-note").hidden = state.isAdmin;
  document.title = `Developer Access · ${state.org} · embedgate`;
  const initial = ["credentials", "audit", "edges"].includes(location.hash.slice(1)) ? location.hash.slice(1) : "credentials";
  selectTab(initial, false);
  $("main").focus();
}

const TABS = ["credentials", "audit", "edges"];

function selectTab(name, focus = true) {
  state.tab = name;
  for (const t of TABS) {
    const tab = $(`tab-${t}`);
    const on = t === name;
    tab.setAttribute("aria-selected", on ? "true" : "false");
    tab.tabIndex = on ? 0 : -1;
    $(`panel-${t}`).hidden = !on;
    if (on && focus) tab.focus();
  }
  if (location.hash.slice(1) !== name) history.replaceState(null, "", name === "credentials" ? location.pathname : `#${name}`);
  if (name === "audit") loadAudit(true);
  if (name === "edges") startEdges();
  else stopEdges();
}

function onTabKey(e) {
  const i = TABS.indexOf(state.tab);
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

async function loadCredentials() {
  const body = $("credentials-body");
  if (!state.loaded) {
    body.replaceChildren(h("div", { class: "loading", role: "status", text: "Loading credentials…" }));
  }
  body.setAttribute("aria-busy", "true");
  try {
    const all = [];
    let after = null;
    for (let page = 0; page < 50; page += 1) {
      const q = after ? `?limit=1000&after=${encodeURIComponent(after)}` : "?limit=1000";
      const res = await call("GET", `/credentials${q}`);
      all.push(...res.credentials);
      after = res.next;
      if (!after) break;
    }
    state.credentials = all;
    state.loaded = true;
    renderCredentials();
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) return handleError(err);
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
    privileges.map((p) => h("span", { class: `badge ${p === "embedding" ? "badge-info" : "badge-neutral"}`, text: PRIVILEGES[p] || p }))
  );
}

function statusCell(c) {
  if (c.status === "revoked") {
    const revoked = h("span", { class: "badge badge-danger badge-dot", text: "Revoked" });
    const when = c.revoked_at
      ? h("span", { class: "revoked-by", title: absoluteTime(c.revoked_at), text: `by ${c.revoked_by || "an admin"}, ${relativeTime(c.revoked_at)}` })
      : null;
    return h("td", { class: "status-cell" }, revoked, when);
  }
  return h(
    "td",
    { class: "status-cell" },
    h("span", { class: "badge badge-success badge-dot", text: "Active" }),
    c.live_generations.length > 1 ? h("span", { class: "hint", dataset: { testid: "rotating-hint" }, text: "2 live secrets" }) : null
  );
}

function renderCredentials() {
  const body = $("credentials-body");
  const list = state.credentials;
  const active = list.filter((c) => c.status === "active").length;
  $("cred-count").textContent = list.length === 0 ? "No credentials yet" : `${active} active · ${list.length - active} revoked`;
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
  const head = h(
    "tr",
    {},
    ["Name", "Client ID", "Owner", "Privileges", "Created", "Last used", "Status"].map((t) => h("th", { scope: "col", text: t })),
    state.isAdmin ? h("th", { scope: "col" }, h("span", { class: "visually-hidden", text: "Actions" })) : null
  );
  const rows = list.map((c) => credentialRow(c));
  body.replaceChildren(
    h(
      "div",
      { class: "table-wrap" },
      h("table", { class: "data", dataset: { testid: "credentials-table" } },
        h("caption", { class: "visually-hidden", text: `Client credentials of ${state.org}` }),
        h("thead", {}, head),
        h("tbody", {}, rows))
    )
  );
}

function credentialRow(c) {
  const idCode = h("code", { text: c.client_id, dataset: { testid: "row-client-id" } });
  const copyBtn = h("button", {
    type: "button",
    class: "btn btn-ghost btn-sm",
    "aria-label": `Copy client ID of ${c.name}`,
    on: { click: () => copyFrom(idCode, copyBtn, "Client ID") },
  }, h("span", { class: "btn-label", text: "Copy" }));
  const cells = [
    h("td", {}, h("span", { class: "cred-name", text: c.name }), c.description ? h("span", { class: "cred-desc small", text: c.description }) : null),
    h("td", {}, h("div", { class: "client-id" }, idCode, copyBtn)),
    h("td", {},
      h("span", { class: "owner-email", text: c.owner }),
      h("span", { class: "owner-type", text: c.owner_account_type ? ACCOUNT_TYPES[c.owner_account_type] || c.owner_account_type : "Former member" })),
    h("td", {}, privilegeBadges(c.privileges)),
    h("td", {}, h("time", { datetime: new Date(c.created_at * 1000).toISOString(), title: `${absoluteTime(c.created_at)} by ${c.created_by}`, text: shortDate(c.created_at) })),
    h("td", {}, c.last_used_at ? timeEl(c.last_used_at) : h("span", { class: "muted", text: "Never" })),
    statusCell(c),
  ];
  if (state.isAdmin) {
    cells.push(h("td", { class: "actions-cell" }, c.status === "active" ? rowMenu(c) : h("span", { class: "muted", "aria-label": "No actions: revoked", text: "—" })));
  }
  return h("tr", { class: c.status === "revoked" ? "is-revoked" : "", dataset: { testid: "credential-row", clientId: c.client_id } }, cells);
}

function rowMenu(c) {
  const two = c.live_generations.length > 1;
  return menuButton({
    label: "More",
    ariaLabel: `More actions for ${c.name}`,
    testid: "row-more",
    items: [
      {
        label: "Rotate secret",
        disabled: two,
        hint: "Two secrets are live: retire the previous one first",
        onSelect: () => rotate(c),
      },
      {
        label: "Retire previous secret",
        disabled: !two,
        hint: "Only one secret is live",
        onSelect: () => confirmRetire(c),
      },
      "separator",
      { label: "Revoke", danger: true, onSelect: () => confirmRevoke(c) },
    ],
  });
}

// ------------------------------------------------------------------ create

function field({ id, label, control, hint, optional }) {
  const errorId = `${id}-error`;
  const hintId = hint ? `${id}-hint` : null;
  control.id = id;
  control.setAttribute("aria-describedby", [hintId, errorId].filter(Boolean).join(" "));
  return h(
    "div",
    { class: "field" },
    h("label", { for: id }, label, optional ? h("span", { class: "optional", text: " (optional)" }) : null),
    control,
    hint ? h("p", { class: "hint", id: hintId }, hint) : null,
    h("p", { class: "error", id: errorId, hidden: true })
  );
}

function openCreate() {
  const activeMembers = state.members.filter((m) => m.status === "active");
  const embedding = h("input", { type: "checkbox", name: "privileges", value: "embedding", checked: true, dataset: { testid: "create-priv-embedding" } });
  const apiPriv = h("input", { type: "checkbox", name: "privileges", value: "api", dataset: { testid: "create-priv-api" } });
  const name = h("input", { type: "text", name: "name", maxlength: "100", required: true, autocomplete: "off", dataset: { testid: "create-name" } });
  const description = h("textarea", { name: "description", rows: "3", maxlength: "1000", dataset: { testid: "create-description" } });
  const owner = h(
    "select",
    { name: "owner", required: true, dataset: { testid: "create-owner" } },
    h("option", { value: "", text: "Select a member…" }),
    activeMembers.map((m) => h("option", { value: m.email, text: `${m.email} — ${ACCOUNT_TYPES[m.account_type] || m.account_type}` }))
  );
  const origins = h("textarea", { name: "allowed_origins", rows: "3", spellcheck: "false", placeholder: "https://app.example.com", dataset: { testid: "create-origins" } });
  const lifetime = h("input", { type: "number", name: "max_token_lifetime_s", min: "1", max: String(MAX_LIFETIME), step: "1", inputmode: "numeric", dataset: { testid: "create-lifetime" } });
  const privError = h("p", { class: "error", id: newId("priv-error"), hidden: true });
  const formError = h("div", { class: "alert alert-danger form-error", role: "alert", hidden: true });

  const privFieldset = h(
    "fieldset",
    { "aria-describedby": privError.id },
    h("legend", { text: "Select privileges" }),
    h("label", { class: "check" }, embedding, h("span", {}, h("strong", { text: "Embedding" }), h("span", { class: "desc", text: "Sign embed tokens for secure embeds." }))),
    h("label", { class: "check" }, apiPriv, h("span", {}, h("strong", { text: "REST API" }), h("span", { class: "desc", text: "Call the REST API with these credentials." }))),
    privError
  );
  const advanced = h(
    "details",
    { class: "disclosure" },
    h("summary", { text: "Advanced" }),
    h(
      "div",
      { class: "disclosure-body" },
      field({ id: newId("origins"), label: "Allowed origins", control: origins, optional: true, hint: "Pages allowed to frame the embeds, one per line (e.g. https://app.example.com). Empty: any origin." }),
      field({ id: newId("lifetime"), label: "Max token lifetime (seconds)", control: lifetime, optional: true, hint: `The longest exp − iat a token may have, up to ${MAX_LIFETIME} (30 days).` })
    )
  );
  const form = h(
    "form",
    { novalidate: true, dataset: { testid: "create-form" } },
    formError,
    privFieldset,
    field({ id: newId("name"), label: "Name", control: name, hint: "Unique in the org, up to 100 characters." }),
    field({ id: newId("description"), label: "Description", control: description, optional: true, hint: "What uses these credentials (up to 1000 characters)." }),
    field({
      id: newId("owner"),
      label: "Owner",
      control: owner,
      hint: "The credentials can do what this member's account type allows: an admin owner may sign for any user; any other owner only as itself.",
    }),
    advanced
  );
  form.id = newId("create-form");
  // Outside the form element (in the modal footer) but submitting it, so Enter in a field submits too.
  const submit = h("button", { type: "submit", form: form.id, class: "btn btn-primary", text: "Create", dataset: { testid: "create-submit" } });

  const controls = { privileges: embedding, name, description, owner, allowed_origins: origins, max_token_lifetime_s: lifetime };
  function errorFor(key) {
    if (key === "privileges") return privError;
    return document.getElementById(controls[key].getAttribute("aria-describedby").split(" ").pop());
  }
  function showError(key, message) {
    const el = errorFor(key);
    el.textContent = message || "";
    el.hidden = !message;
    const inputs = key === "privileges" ? [embedding, apiPriv] : [controls[key]];
    for (const i of inputs) {
      if (message) i.setAttribute("aria-invalid", "true");
      else i.removeAttribute("aria-invalid");
    }
    if (message && (key === "allowed_origins" || key === "max_token_lifetime_s")) advanced.open = true;
  }
  function clearErrors() {
    for (const key of Object.keys(controls)) showError(key, null);
    formError.hidden = true;
    formError.replaceChildren();
  }

  function validate() {
    const errors = {};
    const body = {};
    body.privileges = [embedding, apiPriv].filter((c) => c.checked).map((c) => c.value);
    if (body.privileges.length === 0) errors.privileges = "Select at least one privilege.";
    body.name = name.value.trim();
    if (!body.name) errors.name = "Enter a name.";
    else if ([...body.name].length > 100) errors.name = "Use at most 100 characters.";
    else if (/\p{Cc}/u.test(body.name)) errors.name = "Remove control characters.";
    const desc = description.value;
    if (desc.trim()) {
      if ([...desc].length > 1000) errors.description = "Use at most 1000 characters.";
      else body.description = desc;
    }
    if (!owner.value) errors.owner = "Select the member who owns these credentials.";
    else body.owner = owner.value;
    const originList = origins.value.split("\n").map((s) => s.trim()).filter(Boolean);
    if (originList.length > 50) errors.allowed_origins = "At most 50 origins.";
    else {
      const bad = originList.find((o) => !/^https?:\/\/(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(:\d{1,5})?\/?$/.test(o));
      if (bad !== undefined) errors.allowed_origins = `Not an origin: “${bad}”. Use scheme://host[:port], without a path.`;
      else if (originList.length) body.allowed_origins = originList;
    }
    const lt = lifetime.value.trim();
    if (lt) {
      const n = Number(lt);
      if (!Number.isInteger(n) || n < 1 || n > MAX_LIFETIME) errors.max_token_lifetime_s = `Enter whole seconds from 1 to ${MAX_LIFETIME}.`;
      else body.max_token_lifetime_s = n;
    }
    return { errors, body };
  }

  let pending = false;
  const modal = openModal({
    title: "Create client credentials",
    description: "Client credentials (a client ID and an embed secret) sign the JWTs of your secure embeds.",
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
    const { errors, body } = validate();
    const keys = Object.keys(errors);
    if (keys.length) {
      for (const k of keys) showError(k, errors[k]);
      (keys[0] === "privileges" ? embedding : controls[keys[0]]).focus();
      announce(`${keys.length} field${keys.length > 1 ? "s need" : " needs"} attention`);
      return;
    }
    pending = true;
    setPending(submit, true, "Creating…");
    try {
      const created = await call("POST", "/credentials", body);
      const secret = takeSecret(created);
      form.reset();
      modal.close();
      showSecretModal(created, secret, false);
      loadCredentials();
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) return handleError(err);
      if (err instanceof ApiError && err.code === "invalid_input" && err.field && controls[err.field]) {
        showError(err.field, err.message);
        (err.field === "privileges" ? embedding : controls[err.field]).focus();
      } else if (err instanceof ApiError && err.code === "name_taken") {
        showError("name", "A credential with this name already exists in the org (names of revoked ones stay taken). Choose another.");
        name.focus();
      } else {
        formError.replaceChildren(h("span", { class: "alert-icon", "aria-hidden": "true", text: "!" }), h("p", { text: describeError(err) }));
        formError.hidden = false;
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
 * The "Access Credentials" modal. The secret text is put in one <code>
 * node; closing removes the modal's nodes and nothing else holds the text.
 */
function showSecretModal(credential, secretText, rotated) {
  const warnId = newId("secret-warning");
  const secretField = copyField({ value: secretText, label: "Embed secret", testid: "secret-value", describedBy: warnId });
  // The node holds the only copy from here on.
  secretText = null; // eslint-disable-line no-param-reassign
  const clientField = copyField({ value: credential.client_id, label: "Client ID", testid: "client-id-value" });
  const body = h(
    "div",
    {},
    h(
      "div",
      { class: "alert alert-warning secret-warning", id: warnId, role: "note" },
      h("span", { class: "alert-icon", "aria-hidden": "true", text: "!" }),
      h(
        "div",
        {},
        h("p", { text: "This is the only time the embed secret is shown. Copy it and store it securely; you cannot retrieve it later." }),
        rotated
          ? h("p", {
              text: "The previous secret stays live until you choose “Retire previous secret”, so you can update your host app first.",
            })
          : null
      )
    ),
    h("div", { class: "field" }, h("span", { class: "field-label", text: "Client ID" }), clientField),
    h("div", { class: "field" }, h("span", { class: "field-label", text: rotated ? "New embed secret" : "Embed secret" }), secretField)
  );
  const modal = openModal({
    title: "Access Credentials",
    description: rotated ? `New secret for “${credential.name}”.` : `Credentials for “${credential.name}”.`,
    testid: "secret-modal",
    initialFocus: () => secretField.querySelector("button"),
    build: () => ({
      body,
      footer: [h("button", { type: "button", class: "btn btn-primary", text: "Done", dataset: { testid: "secret-done" }, on: { click: () => modal.close() } })],
    }),
    onClose: () => {
      // The nodes are already detached; empty them too, in case anything still refers to them.
      body.replaceChildren();
      announce("Access Credentials closed. The embed secret is no longer shown.");
    },
  });
}

// ------------------------------------------------------------------ rotate / retire / revoke

async function rotate(c) {
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

function confirmDialog({ title, lines, confirmLabel, pendingLabel, danger, testid, action }) {
  const confirm = h("button", { type: "button", class: `btn ${danger ? "btn-danger" : "btn-primary"}`, text: confirmLabel, dataset: { testid: `${testid}-confirm` } });
  const cancel = h("button", { type: "button", class: "btn", text: "Cancel", dataset: { testid: `${testid}-cancel` } });
  const modal = openModal({
    title,
    testid,
    initialFocus: () => cancel,
    build: () => ({ body: h("div", {}, lines), footer: [cancel, confirm] }),
  });
  cancel.addEventListener("click", () => modal.close());
  confirm.addEventListener("click", async () => {
    setPending(confirm, true, pendingLabel);
    cancel.disabled = true;
    try {
      await action();
      modal.close();
    } catch (err) {
      modal.close();
      throw err;
    }
  });
  return modal;
}

function confirmRetire(c) {
  confirmDialog({
    title: "Retire previous secret?",
    testid: "retire-dialog",
    confirmLabel: "Retire previous secret",
    pendingLabel: "Retiring…",
    lines: [
      h("p", {}, "Tokens signed with the previous secret of ", h("span", { class: "confirm-name", text: c.name }), " stop verifying immediately."),
      h("p", { class: "muted", text: "Make sure every host app signs with the new secret first." }),
    ],
    action: async () => {
      try {
        await call("POST", `/credentials/${encodeURIComponent(c.client_id)}/retire-previous`);
        toast(`Retired the previous secret of “${c.name}”.`, "success");
        announce(`Retired the previous secret of ${c.name}`);
      } catch (err) {
        if (err instanceof ApiError && err.code === "no_previous") toast("There is no previous secret to retire.", "error");
        else handleError(err, `Retiring the previous secret of “${c.name}” failed`);
      }
      await loadCredentials();
    },
  });
}

function confirmRevoke(c) {
  confirmDialog({
    title: `Revoke “${c.name}”?`,
    testid: "revoke-dialog",
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

async function loadAudit(reset) {
  const body = $("audit-body");
  if (!state.isAdmin) {
    body.replaceChildren(
      h(
        "div",
        { class: "alert alert-info load-error", dataset: { testid: "audit-admin-only" } },
        h("span", { class: "alert-icon", "aria-hidden": "true", text: "i" }),
        h("p", { text: "The audit log is available to org admins only." })
      )
    );
    $("audit-refresh").hidden = true;
    return;
  }
  $("audit-refresh").hidden = false;
  if (reset) {
    state.auditItems = [];
    state.auditNext = null;
    body.replaceChildren(h("div", { class: "loading", role: "status", text: "Loading the audit log…" }));
  }
  try {
    const q = state.auditNext ? `?limit=50&before=${state.auditNext}` : "?limit=50";
    const page = await call("GET", `/audit${q}`);
    state.auditItems.push(...page.items);
    state.auditNext = page.next_before;
    renderAudit();
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) return handleError(err);
    body.replaceChildren(h("div", { class: "alert alert-danger load-error", role: "alert" }, h("p", { text: `The audit log could not be loaded. ${describeError(err)}` })));
  }
}

function renderAudit() {
  const body = $("audit-body");
  if (state.auditItems.length === 0) {
    body.replaceChildren(h("div", { class: "empty-state" }, h("p", { class: "muted", text: "No audit entries yet." })));
    return;
  }
  const names = new Map(state.credentials.map((c) => [c.client_id, c.name]));
  const rows = state.auditItems.map((item) => {
    const detail = item.detail && typeof item.detail === "object" ? item.detail : {};
    const known = names.get(item.target);
    return h(
      "tr",
      { dataset: { testid: "audit-row" } },
      h("td", {}, h("time", { datetime: new Date(item.at * 1000).toISOString(), title: relativeTime(item.at), text: absoluteTime(item.at) })),
      h("td", {}, h("span", { class: "owner-email", text: item.actor })),
      h("td", { class: "audit-action" }, ACTIONS[item.action] || item.action, h("code", { text: item.action })),
      h("td", {}, known ? h("span", { class: "target-name", text: known }) : null, h("span", { class: known ? "target-id mono" : "owner-email", text: item.target })),
      h(
        "td",
        {},
        Object.keys(detail).length
          ? h("div", { class: "kv" }, Object.entries(detail).map(([k, v]) => h("span", {}, h("b", { text: `${k.replaceAll("_", " ")}: ` }), detailValue(v))))
          : h("span", { class: "muted", text: "—" })
      )
    );
  });
  const more = state.auditNext
    ? h("div", { class: "table-foot" }, h("button", { type: "button", class: "btn btn-sm", text: "Load older entries", on: { click: () => loadAudit(false) } }))
    : null;
  body.replaceChildren(
    h(
      "div",
      { class: "table-wrap" },
      h("table", { class: "data", dataset: { testid: "audit-table" } },
        h("caption", { class: "visually-hidden", text: "Audit log, newest first" }),
        h("thead", {}, h("tr", {}, ["Time", "Actor", "Action", "Target", "Details"].map((t) => h("th", { scope: "col", text: t })))),
        h("tbody", {}, rows))
    ),
    ...(more ? [more] : [])
  );
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
  state.edgesTimer = setInterval(() => {
    if (document.visibilityState === "visible") refreshEdges();
  }, 2000);
}

function stopEdges() {
  if (state.edgesTimer) clearInterval(state.edgesTimer);
  state.edgesTimer = null;
}

async function refreshEdges() {
  if (state.edgesInFlight || !state.token) return;
  state.edgesInFlight = true;
  try {
    const data = await api(state.token, "GET", "/api/v1/edges");
    renderEdges(data);
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) {
      handleError(err);
      return;
    }
    $("edges-sub").textContent = `Refresh failed: ${describeError(err)} Retrying…`;
  } finally {
    state.edgesInFlight = false;
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
  body.replaceChildren(
    h(
      "div",
      { class: "table-wrap" },
      h("table", { class: "data", dataset: { testid: "edges-table" } },
        h("caption", { class: "visually-hidden", text: "Edge sync status" }),
        h("thead", {}, h("tr", {}, ["Edge", "Status", "Applied version", "Lag", "Last ack", "Last error"].map((t) => h("th", { scope: "col", text: t })))),
        h("tbody", {}, rows))
    )
  );
}

// ------------------------------------------------------------------ start

function start() {
  $("signin-form").addEventListener("submit", onSignin);
  $("signout").addEventListener("click", () => signOut());
  $("create-new").addEventListener("click", openCreate);
  $("audit-refresh").addEventListener("click", () => loadAudit(true));
  for (const t of TABS) {
    $(`tab-${t}`).addEventListener("click", () => selectTab(t));
    $(`tab-${t}`).addEventListener("keydown", onTabKey);
  }
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible" && state.tab === "edges" && state.token) refreshEdges();
  });
  const session = loadSession();
  if (!session) {
    showSignin();
    return;
  }
  $("signin-org").value = session.org;
  enterApp(session.org, session.token).catch((err) => {
    if (err instanceof ApiError && (err.status === 401 || err.status === 404)) {
      clearSession();
      showSignin("Your session ended: the API token was rejected (revoked, or its member was deactivated). Sign in again.");
    } else {
      // Keep the session (maybe the server is restarting) but show why.
      showSignin(`Could not reach Developer Access: ${describeError(err)}`);
    }
  });
}

start();
