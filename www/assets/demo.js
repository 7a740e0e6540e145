// The host-app demo (/demo): plays a customer's app. Its server side
// (/demo/api, the admin's --demo host) keeps the embed secret and signs
// embed URLs; this page frames them and shows what the edge says about the
// embed (postMessage from the edge's pages, accepted only from the edge's
// origin and from our iframe). When the embed announces that its session is
// ending (embedgate:expiring), it asks its server for a fresh token for the
// same user and hands it to the iframe (embedgate:refresh): the embed goes
// on without reloading.

import { CODES, explainCode } from "./codes.js";
import { announce, setPending } from "./ui.js";

const $ = (id) => document.getElementById(id);
const state = { config: null, edgeOrigin: null, expectedSub: null, loads: 0, signed: null, refreshes: 0, refreshing: false };

async function demoApi(method, path, body) {
  const init = { method, headers: { accept: "application/json" }, credentials: "same-origin", cache: "no-store" };
  if (body !== undefined) {
    init.headers["content-type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let resp;
  try {
    resp = await fetch(path, init);
  } catch {
    return { ok: false, status: 0, data: { error: "network", message: "The demo server could not be reached." } };
  }
  let data = null;
  try {
    data = await resp.json();
  } catch {
    data = null;
  }
  if (!data) data = resp.ok ? {} : { error: `http_${resp.status}`, message: `HTTP ${resp.status}` };
  return { ok: resp.ok, status: resp.status, data };
}

function setFieldError(input, message) {
  const err = $(`${input.id}-error`);
  if (message) {
    input.setAttribute("aria-invalid", "true");
    err.textContent = message;
    err.hidden = false;
  } else {
    input.removeAttribute("aria-invalid");
    err.textContent = "";
    err.hidden = true;
  }
}

// ------------------------------------------------------------------ configuration

function showConfig(cfg) {
  state.config = cfg;
  try {
    state.edgeOrigin = cfg.edge_url ? new URL(cfg.edge_url).origin : null;
  } catch {
    state.edgeOrigin = null;
  }
  const badge = $("config-badge");
  const current = $("config-current");
  if (cfg.configured) {
    badge.textContent = "Configured";
    badge.className = "badge badge-success badge-dot";
    current.replaceChildren("Signing for org ");
    current.append(strong(cfg.org), " with client ID ", code(cfg.client_id), ".");
    if (!$("cfg-org").value) $("cfg-org").value = cfg.org;
    if (!$("cfg-client-id").value) $("cfg-client-id").value = cfg.client_id;
  } else {
    badge.textContent = "Not configured";
    badge.className = "badge badge-warning badge-dot";
    current.textContent = "Enter the org, client ID and embed secret of credentials from Developer Access.";
  }
  if (!cfg.edge_url) {
    current.append(" No edge is configured on the admin (EMBEDGATE_EDGES), so embeds cannot load.");
  } else {
    current.append(" Embeds load from ", code(cfg.edge_url), ".");
  }
}

function strong(text) {
  const el = document.createElement("strong");
  el.textContent = text;
  return el;
}

function code(text) {
  const el = document.createElement("code");
  el.textContent = text;
  return el;
}

async function loadConfig() {
  const res = await demoApi("GET", "/demo/api/config");
  if (res.status === 404) {
    $("disabled").hidden = false;
    $("config-current").textContent = "The demo host is disabled.";
    for (const el of document.querySelectorAll("#config-form input, #config-form button, #embed-form input, #embed-form select, #embed-form button")) {
      el.disabled = true;
    }
    return;
  }
  if (!res.ok) {
    $("config-current").textContent = `Could not read the demo configuration: ${res.data.message || res.data.error}`;
    return;
  }
  showConfig(res.data);
}

async function onSaveConfig(e) {
  e.preventDefault();
  const org = $("cfg-org");
  const clientId = $("cfg-client-id");
  const secret = $("cfg-secret");
  let bad = null;
  for (const [input, msg] of [
    [org, "Enter the org slug."],
    [clientId, "Enter the client ID."],
    [secret, "Enter the embed secret (egs_…)."],
  ]) {
    const missing = !input.value.trim();
    setFieldError(input, missing ? msg : null);
    if (missing && !bad) bad = input;
  }
  if (bad) {
    bad.focus();
    return;
  }
  const button = $("cfg-save");
  setPending(button, true, "Saving…");
  const res = await demoApi("PUT", "/demo/api/config", {
    org: org.value.trim(),
    client_id: clientId.value.trim(),
    secret: secret.value.trim(),
  });
  // The secret input is cleared whatever the answer: it lives on the server now (or must be typed again).
  secret.value = "";
  setPending(button, false);
  if (res.ok) {
    showConfig(res.data);
    announce("Host app configuration saved");
    return;
  }
  const field = res.data.field;
  const target = { org, client_id: clientId, secret }[field];
  if (target) {
    setFieldError(target, res.data.message);
    target.focus();
  } else {
    $("config-current").textContent = `Saving failed: ${res.data.message || res.data.error}`;
  }
}

// ------------------------------------------------------------------ embed

function setStatus(kind, text) {
  const el = $("embed-status");
  el.className = `embed-status is-${kind}`;
  // Test hooks: the state, and which load (1, 2, …) it belongs to.
  el.dataset.state = kind;
  el.dataset.load = String(state.loads);
  $("embed-status-text").textContent = text;
}

function clearError() {
  $("embed-error").hidden = true;
  $("embed-error-code").textContent = "";
  $("embed-error-explain").textContent = "";
  $("embed-error-status").textContent = "";
}

function showError(codeText, status) {
  $("embed-error-code").textContent = codeText;
  $("embed-error-status").textContent = status ? `HTTP ${status}` : "";
  $("embed-error-status").hidden = !status;
  $("embed-error-explain").textContent = explainCode(codeText);
  $("embed-error").hidden = false;
  const title = CODES[codeText] ? CODES[codeText].title : codeText;
  setStatus("error", `Refused: ${title}`);
}

/** The signed URL for display, its token collapsed. */
function displayUrl(url) {
  const i = url.indexOf(":jwt=");
  if (i < 0) return url;
  const rest = url.slice(i + 5);
  const end = rest.indexOf("&");
  const jwt = end < 0 ? rest : rest.slice(0, end);
  const tail = end < 0 ? "" : rest.slice(end);
  return `${url.slice(0, i + 5)}${jwt.slice(0, 3)}…(truncated)${tail}`;
}

async function onLoadEmbed(e) {
  e.preventDefault();
  const sub = $("emb-sub");
  const ttl = $("emb-ttl");
  for (const el of ["emb-sub", "emb-type", "emb-kind", "emb-id", "emb-ttl"]) setFieldError($(el), null);
  const email = sub.value.trim();
  if (!email || !email.includes("@") || /\s/.test(email)) {
    setFieldError(sub, "Enter the embed user's email address.");
    sub.focus();
    return;
  }
  const body = { sub: email, kind: $("emb-kind").value };
  const id = $("emb-id").value.trim();
  if (id) body.id = id;
  if ($("emb-type").value) body.account_type = $("emb-type").value;
  if (ttl.value.trim()) {
    const n = Number(ttl.value);
    if (!Number.isInteger(n) || n < 1 || n > 3600) {
      setFieldError(ttl, "Whole seconds from 1 to 3600.");
      ttl.focus();
      return;
    }
    body.ttl_s = n;
  }
  const button = $("emb-load");
  setPending(button, true, "Signing…");
  const res = await demoApi("POST", "/demo/api/embed-url", body);
  setPending(button, false);
  if (!res.ok) {
    const map = { sub: "emb-sub", kind: "emb-kind", id: "emb-id", account_type: "emb-type", ttl_s: "emb-ttl" };
    if (res.data.field && map[res.data.field]) {
      setFieldError($(map[res.data.field]), res.data.message);
      $(map[res.data.field]).focus();
      return;
    }
    const why = {
      not_configured: "Configure the host app first (org, client ID and embed secret).",
      no_edge: "The admin has no edge configured (EMBEDGATE_EDGES), so there is nowhere to load the embed from.",
      not_found: "The demo host is disabled: start the admin with --demo.",
    }[res.data.error];
    setStatus("error", why || `Signing failed: ${res.data.message || res.data.error}`);
    return;
  }
  clearError();
  state.loads += 1;
  state.expectedSub = email;
  // What the refreshes of this embed ask the server for: the same user, kind and workbook.
  state.signed = body;
  state.refreshes = 0;
  state.refreshing = false;
  showRefresh(null);
  const { url, expires_at: expiresAt } = res.data;
  $("signed-url").textContent = displayUrl(url);
  $("signed-url-meta").textContent = `Single use · expires ${new Date(expiresAt * 1000).toLocaleString()}`;
  setStatus("loading", `Loading the embed for ${email}…`);
  $("embed-placeholder").hidden = true;
  const frame = $("embed-frame");
  frame.hidden = false;
  frame.src = url;
}

/** The refresh line under the status: `null` hides it. */
function showRefresh(text, kind = "ok") {
  const el = $("embed-refresh");
  el.hidden = text === null;
  el.textContent = text || "";
  el.dataset.state = kind;
  el.dataset.refreshes = String(state.refreshes);
}

/**
 * The embed's session is ending: a fresh token for the same user from our
 * server, handed to the iframe (only to the edge's origin). This is the
 * whole host-app side of refresh in place (README, "Embeds that refresh").
 */
async function refreshEmbed(frame) {
  if (state.refreshing || !state.signed) return;
  state.refreshing = true;
  const load = state.loads;
  const res = await demoApi("POST", "/demo/api/embed-url", state.signed);
  state.refreshing = false;
  if (load !== state.loads) return; // another embed was loaded meanwhile
  if (!res.ok) {
    showRefresh(`Could not sign a fresh token: ${res.data.message || res.data.error}`, "error");
    return;
  }
  const jwt = new URL(res.data.url).searchParams.get(":jwt");
  if (jwt && frame.contentWindow) frame.contentWindow.postMessage({ type: "embedgate:refresh", jwt }, state.edgeOrigin);
}

function onMessage(event) {
  const frame = $("embed-frame");
  if (!state.edgeOrigin || event.origin !== state.edgeOrigin) return;
  if (!frame.contentWindow || event.source !== frame.contentWindow) return;
  const msg = event.data;
  if (!msg || typeof msg !== "object" || typeof msg.type !== "string") return;
  if (msg.type === "embedgate:loaded") {
    clearError();
    const sub = typeof msg.sub === "string" ? msg.sub : "";
    setStatus("ok", `Verified: ${sub}`);
    const detail = [];
    if (typeof msg.client_id === "string") detail.push(`client ${msg.client_id}`);
    if (typeof msg.org === "string") detail.push(`org ${msg.org}`);
    $("embed-status-text").title = detail.join(", ");
  } else if (msg.type === "embedgate:expiring") {
    refreshEmbed(frame);
  } else if (msg.type === "embedgate:refreshed") {
    state.refreshes += 1;
    const until = Number.isInteger(msg.exp) ? ` · until ${new Date(msg.exp * 1000).toLocaleTimeString()}` : "";
    showRefresh(`Session extended · ${state.refreshes} refresh${state.refreshes === 1 ? "" : "es"}${until}`);
  } else if (msg.type === "embedgate:error" && msg.refresh === true) {
    // A refused refresh: the embed goes on until its session ends (then embedgate:error says why).
    const codeText = typeof msg.code === "string" && /^[a-z0-9_]{1,64}$/.test(msg.code) ? msg.code : "unknown_error";
    showRefresh(`Refresh refused: ${codeText}`, "error");
    $("embed-refresh").dataset.code = codeText;
  } else if (msg.type === "embedgate:error") {
    const codeText = typeof msg.code === "string" && /^[a-z0-9_]{1,64}$/.test(msg.code) ? msg.code : "unknown_error";
    const status = Number.isInteger(msg.status) ? msg.status : null;
    showError(codeText, status);
  }
}

function start() {
  window.addEventListener("message", onMessage);
  $("config-form").addEventListener("submit", onSaveConfig);
  $("embed-form").addEventListener("submit", onLoadEmbed);
  $("emb-sub").addEventListener("input", () => {
    const v = $("emb-sub").value.trim();
    $("host-user").textContent = v ? v[0].toUpperCase() : "?";
  });
  $("host-user").textContent = "A";
  loadConfig();
}

start();
