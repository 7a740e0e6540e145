// The token inspector (/inspect): decodes and checks an embed token in the
// page with the WASM build of embedgate-core (the same rules as the edge
// and `embedgate verify`). After the module has loaded, nothing here makes
// a request: no fetch, no images, no beacons.

import { CODES } from "./codes.js";
import { absoluteTime, h, prettyJson, relativeTime } from "./ui.js";

const $ = (id) => document.getElementById(id);
let wasm = null;
let timer = null;

const VERDICTS = {
  pass: ["✓", "Pass", "is-pass"],
  fail: ["✗", "Fail", "is-fail"],
  skipped: ["–", "Skipped", "is-skipped"],
  not_reached: ["·", "Not reached", "is-not-reached"],
};

// The option fields: key → [input id, kind].
const FIELDS = {
  client_id: ["client-id", "text"],
  org: ["org", "text"],
  url: ["url", "text"],
  owner: ["owner", "text"],
  owner_account_type: ["owner-type", "select"],
  privileges: ["priv-embedding", "privileges"],
  allowed_origins: ["allowed-origins", "lines"],
  origin: ["origin", "text"],
  max_token_lifetime: ["max-lifetime", "int"],
  not_before_cutoff: ["cutoff", "int"],
  revoked: ["revoked", "bool"],
  seen_jtis: ["seen-jtis", "lines"],
  audience: ["audience", "text"],
  leeway: ["leeway", "int"],
  now: ["now", "int"],
};

function errorEl(key) {
  return key === "privileges" ? $("privileges-error") : $(`${FIELDS[key][0]}-error`);
}

function setFieldError(key, message) {
  const el = errorEl(key);
  if (!el) return;
  el.textContent = message || "";
  el.hidden = !message;
  const inputs = key === "privileges" ? [$("priv-embedding"), $("priv-api")] : [$(FIELDS[key][0])];
  for (const i of inputs) {
    if (message) i.setAttribute("aria-invalid", "true");
    else i.removeAttribute("aria-invalid");
  }
  if (message && $(FIELDS[key][0]).closest("#advanced")) $("advanced").open = true;
}

/** The options object from the form: empty fields are left out. Returns {options, errors}. */
function readOptions() {
  const options = {};
  const errors = {};
  for (const [key, [id, kind]] of Object.entries(FIELDS)) {
    const el = $(id);
    if (kind === "text") {
      const v = el.value.trim();
      if (v) options[key] = v;
    } else if (kind === "select") {
      options[key] = el.value;
    } else if (kind === "lines") {
      const list = el.value.split("\n").map((s) => s.trim()).filter(Boolean);
      if (list.length) options[key] = list;
    } else if (kind === "int") {
      const v = el.value.trim();
      if (v) {
        if (/^-?\d+$/.test(v) && Number.isSafeInteger(Number(v))) options[key] = Number(v);
        else errors[key] = "Enter a whole number.";
      }
    } else if (kind === "bool") {
      if (el.checked) options[key] = true;
    } else if (kind === "privileges") {
      options.privileges = [$("priv-embedding"), $("priv-api")].filter((c) => c.checked).map((c) => c.value);
    }
  }
  return { options, errors };
}

/** A token from the box: a whole embed URL gives its :jwt. */
function readToken() {
  const raw = $("token").value;
  const m = /[?&]:jwt=([^&#\s]*)/.exec(raw);
  if (m && /^\s*https?:\/\/|^\s*\//.test(raw)) {
    try {
      return decodeURIComponent(m[1]);
    } catch {
      return m[1];
    }
  }
  return raw;
}

/** The error under the key field (a JWK that is not a usable public key), or none. */
function setKeyError(message) {
  $("secret-error").textContent = message || "";
  $("secret-error").hidden = !message;
  if (message) $("secret").setAttribute("aria-invalid", "true");
  else $("secret").removeAttribute("aria-invalid");
}

/**
 * Under the key field, what a pasted public key is (its algorithm and RFC
 * 7638 thumbprint, to compare with the console's), or why it is not a
 * usable one (a private key, another curve…; the module's sentence never
 * repeats the key). Nothing for a secret, whose text is never echoed.
 */
function showKeyInfo(text) {
  const el = $("secret-key-info");
  let info = null;
  let error = null;
  if (text.trimStart().startsWith("{")) {
    try {
      info = wasm.keyInfo(text);
    } catch (err) {
      // "key: why": said by the field (never with the key's text).
      error = String((err && err.message) || err).replace(/^key:\s*/, "");
    }
  }
  setKeyError(error);
  if (info && info.kind === "public_key") {
    el.replaceChildren(
      `Public key · ${info.algorithm} · thumbprint `,
      h("code", { class: "mono", dataset: { testid: "secret-thumbprint" }, text: info.thumbprint })
    );
    el.hidden = false;
  } else {
    el.replaceChildren();
    el.hidden = true;
  }
}

function showVerdict(kind, code, message) {
  const box = $("verdict");
  box.className = `verdict is-${kind}`;
  $("verdict-icon").textContent = { ok: "✓", error: "✗", pending: "!", idle: "?", invalid: "!" }[kind];
  $("final-code").textContent = code;
  $("final-code").hidden = !code;
  $("final-message").textContent = message;
}

function renderRules(rules) {
  const body = $("rules-body");
  if (!rules) {
    body.replaceChildren(h("tr", {}, h("td", { colspan: "3", class: "muted", text: "No token checked yet." })));
    return;
  }
  body.replaceChildren(
    ...rules.map((r, i) => {
      const [icon, label, cls] = VERDICTS[r.verdict] || ["?", r.verdict, ""];
      return h(
        "tr",
        { class: `rule ${cls}`, dataset: { rule: r.rule, verdict: r.verdict } },
        h("td", { class: "rule-n", text: String(i + 1) }),
        h("td", {}, h("span", { class: "rule-title", text: r.title }), r.detail ? h("span", { class: "rule-detail", text: r.detail }) : null),
        h("td", { class: "rule-verdict" }, h("span", { class: `verdict-pill ${cls}` }, h("span", { "aria-hidden": "true", text: icon }), ` ${label}`))
      );
    })
  );
}

function renderDecoded(token, nowUnix) {
  if (!token) {
    $("header-json").textContent = "—";
    $("claims-json").textContent = "—";
    $("times").replaceChildren();
    $("parts").textContent = "";
    return;
  }
  const d = wasm.inspect(token);
  $("parts").textContent = `${d.parts} part${d.parts === 1 ? "" : "s"}${d.kid ? ` · kid ${d.kid}` : ""}`;
  $("header-json").textContent = d.header ? prettyJson(d.header) : d.header_error || "—";
  $("header-json").classList.toggle("is-error", !d.header);
  $("claims-json").textContent = d.claims ? prettyJson(d.claims) : d.claims_error || "—";
  $("claims-json").classList.toggle("is-error", !d.claims);
  const times = [];
  for (const [k, label] of [["iat", "Issued (iat)"], ["nbf", "Not before (nbf)"], ["exp", "Expires (exp)"]]) {
    const v = d.claims ? d.claims[k] : undefined;
    if (Number.isInteger(v) && Math.abs(v) < 1e11) {
      times.push(h("dt", { text: label }), h("dd", {}, h("time", { datetime: new Date(v * 1000).toISOString(), text: absoluteTime(v) }), h("span", { class: "muted", text: ` · ${relativeTime(v, nowUnix)}` })));
    }
  }
  if (d.claims && Number.isInteger(d.claims.iat) && Number.isInteger(d.claims.exp)) {
    const life = d.claims.exp - d.claims.iat;
    times.push(h("dt", { text: "Lifetime" }), h("dd", { text: `${life} s${life >= 3600 ? ` (${(life / 3600).toFixed(life % 3600 ? 1 : 0)} h)` : ""}` }));
  }
  $("times").replaceChildren(...times);
}

/** Runs the check. `explicit`: from the Check button (an empty token is then checked too). */
function evaluate(explicit) {
  if (!wasm) return;
  clearTimeout(timer);
  timer = null;
  for (const key of Object.keys(FIELDS)) setFieldError(key, null);
  const token = readToken();
  const { options, errors } = readOptions();
  const nowUnix = options.now ?? Math.floor(Date.now() / 1000);
  const whitespace = token !== token.trim() && token.trim() !== "";
  $("token-hint").textContent = whitespace
    ? "The token has spaces or line breaks around it: the edge would refuse it as malformed. Remove them."
    : "Paste the value of :jwt, or a whole embed URL (its token is taken out).";
  $("token-hint").classList.toggle("warn", whitespace);
  renderDecoded(token, nowUnix);
  showKeyInfo($("secret").value);
  if (!token && !explicit) {
    showVerdict("idle", "", "Paste a token to inspect it.");
    renderRules(null);
    return;
  }
  if (Object.keys(errors).length) {
    for (const [k, m] of Object.entries(errors)) setFieldError(k, m);
    showVerdict("invalid", "invalid_option", "Fix the highlighted option to check the token.");
    renderRules(null);
    return;
  }
  const secret = $("secret").value;
  let out;
  try {
    out = wasm.explain(token, secret === "" ? null : secret, options);
  } catch (err) {
    const text = String((err && err.message) || err);
    const m = /^([a-z_]+):\s*(.*)$/s.exec(text);
    // `key:` (a JWK that is not a usable public key) and `secret:` belong to the key field.
    const key = m && (FIELDS[m[1]] ? m[1] : m[1] === "secret" || m[1] === "key" ? "secret" : null);
    if (key === "secret") setKeyError(m[2]);
    else if (key) setFieldError(key, m[2]);
    const why = key ? m[2].charAt(0).toUpperCase() + m[2].slice(1) : text;
    showVerdict("invalid", "invalid_option", key ? `${why} (see the highlighted field).` : text);
    renderRules(null);
    return;
  }
  setKeyError(null);
  renderRules(out.rules);
  const r = out.result;
  if (r.ok) {
    const who = r.account_type ? `${r.sub} (${r.account_type})` : r.sub;
    showVerdict("ok", "ok", `Accepted: the edge would show this embed to ${who}.`);
  } else if (r.pending) {
    const message = r.message ? r.message[0].toUpperCase() + r.message.slice(1) : "";
    showVerdict("pending", r.pending, `${message}. The structure and header pass so far.`.replace("..", "."));
  } else {
    const info = CODES[r.error];
    const message = r.message ? r.message[0].toUpperCase() + r.message.slice(1) : "";
    showVerdict("error", r.error, `${info ? `${info.title} (HTTP ${info.status}). ` : ""}${message}`);
  }
}

function schedule() {
  clearTimeout(timer);
  timer = setTimeout(() => evaluate(false), 250);
}

function onSign(e) {
  e.preventDefault();
  const err = $("sign-error");
  err.hidden = true;
  const ttlText = $("sign-ttl").value.trim();
  const input = {
    client_id: $("sign-client-id").value.trim(),
    secret: $("sign-secret").value,
    sub: $("sign-sub").value.trim(),
  };
  if (ttlText) {
    if (!/^\d+$/.test(ttlText)) {
      err.textContent = "Lifetime: enter whole seconds.";
      err.hidden = false;
      return;
    }
    input.ttl_s = Number(ttlText);
  }
  try {
    $("token").value = wasm.sign(input);
  } catch (ex) {
    err.textContent = `Could not sign: ${(ex && ex.message) || ex}`;
    err.hidden = false;
    return;
  }
  // Check it with the same secret and client ID, as of now.
  if (!$("secret").value) $("secret").value = input.secret;
  if (!$("client-id").value) $("client-id").value = input.client_id;
  evaluate(true);
  $("token").focus();
}

function clearAll() {
  $("inspect-form").reset();
  evaluate(false);
  $("token").focus();
}

async function start() {
  renderRules(null);
  try {
    const mod = await import("/pkg/embedgate_wasm.js");
    await mod.default();
    wasm = mod;
  } catch (err) {
    $("offline-badge").textContent = "Verifier unavailable";
    $("offline-badge").className = "badge badge-danger";
    $("load-error-text").textContent =
      "The verifier module (/pkg/embedgate_wasm.js) could not be loaded. Build it with `cargo xtask www` and reload.";
    $("load-error").hidden = false;
    document.body.dataset.ready = "error";
    return;
  }
  $("offline-badge").textContent = "Runs offline in your browser";
  $("offline-badge").className = "badge badge-success badge-dot";
  const form = $("inspect-form");
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    evaluate(true);
  });
  form.addEventListener("input", schedule);
  form.addEventListener("change", schedule);
  $("clear").addEventListener("click", clearAll);
  $("sign-form").addEventListener("submit", onSign);
  evaluate(false);
  document.body.dataset.ready = "true";
}

start();
