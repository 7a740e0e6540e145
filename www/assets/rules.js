// The field rules of the console's forms, from the WASM module
// (/pkg/embedgate_wasm.js: the same core the admin validates with), so the
// limits, the lists and the sentences are the server's own and are not
// restated here. Only display labels live in this file.
//
// When the module cannot be loaded (not built, blocked, an old browser) the
// console still works: every check answers "fine" and the server's 422
// (`{error: "invalid_input", field, message}`) is shown by the field
// instead. Nothing here throws.

let mod = null;
let limits = null;
let loading = null;

/** Loads the module once; resolves to whether it is usable (never rejects). */
export function loadRules() {
  if (!loading) {
    loading = (async () => {
      try {
        const m = await import("/pkg/embedgate_wasm.js");
        await m.default();
        const r = m.rules();
        if (!r || typeof r !== "object" || !Array.isArray(r.account_types)) return false;
        mod = m;
        limits = r;
        return true;
      } catch {
        // Not built or refused: the server's answers stand in (see above).
        mod = null;
        limits = null;
        return false;
      }
    })();
  }
  return loading;
}

/**
 * Resolves once the module loaded or failed, or after `ms` (a form opens
 * without waiting longer: the server checks it anyway).
 */
export function rulesReady(ms = 1500) {
  return Promise.race([loadRules(), new Promise((resolve) => setTimeout(() => resolve(false), ms))]);
}

/** The module's `rules()` (limits, account types, privileges, statuses), or null when it did not load. */
export function rules() {
  return limits;
}

/**
 * The sentence the server's 422 would give for `value` as `field` (a JSON
 * value as the request body would carry it), or null when it obeys the rule
 * or the module is unavailable.
 */
export function checkField(field, value) {
  if (!mod) return null;
  try {
    return mod.checkField(field, value === undefined ? null : value) || null;
  } catch {
    return null;
  }
}

/**
 * `{ok:true}` or `{ok:false, field, message}` for a whole body of `kind`
 * (credential, credential_patch, member, member_patch) exactly as it would
 * be sent. `{ok:true}` when the module is unavailable.
 */
export function checkBody(kind, body) {
  if (!mod) return { ok: true };
  try {
    const r = mod.checkBody(kind, body);
    return r && r.ok === false ? { ok: false, field: r.field, message: r.message } : { ok: true };
  } catch {
    return { ok: true };
  }
}

/**
 * What a pasted public key (JWK text) is, by the module: `{algorithm,
 * thumbprint}` (the RFC 7638 thumbprint the server will show), `{error}`
 * (why it is not a usable public key: the core's sentence, which never
 * repeats the key's text), or null when the module is unavailable (the
 * server's 422 says then).
 */
export function publicKeyInfo(text) {
  if (!mod || typeof mod.keyInfo !== "function") return null;
  try {
    const info = mod.keyInfo(text);
    if (info && info.kind === "public_key") return { algorithm: info.algorithm, thumbprint: info.thumbprint };
    return { error: "not a JWK: a public key is JSON starting with {" };
  } catch (err) {
    return { error: String((err && err.message) || err).replace(/^key:\s*/, "") };
  }
}

// ------------------------------------------------------------------ display labels (not rules)

const ACCOUNT_TYPE_LABELS = {
  admin: ["Admin", "Manages members, API tokens and client credentials; sees the audit log."],
  creator: ["Creator", "Read-only in this console. Credentials owned by a creator sign tokens only as the creator."],
  explorer: ["Explorer", "Read-only in this console. Credentials owned by an explorer sign tokens only as the explorer."],
  viewer: ["Viewer", "Read-only in this console. Credentials owned by a viewer sign tokens only as the viewer."],
};

const PRIVILEGE_LABELS = {
  embedding: ["Embedding", "Sign embed tokens for secure embeds."],
  api: [
    "REST API",
    "Call the admin API from your server: the client ID and secret get a 1-hour access token (OAuth client credentials, POST /api/v1/oauth/token) with the rights of the member these credentials belong to.",
  ],
};

/** "Admin" for `admin`; an unknown type shows as itself. */
export function accountTypeLabel(type) {
  return (ACCOUNT_TYPE_LABELS[type] || [type])[0];
}

/** One sentence on what the account type may do, or "". */
export function accountTypeHelp(type) {
  return (ACCOUNT_TYPE_LABELS[type] || [null, ""])[1];
}

/** "REST API" for `api`; an unknown privilege shows as itself. */
export function privilegeLabel(p) {
  return (PRIVILEGE_LABELS[p] || [p])[0];
}

/** One sentence on what the privilege allows, or "". */
export function privilegeHelp(p) {
  return (PRIVILEGE_LABELS[p] || [null, ""])[1];
}

/**
 * The account types to offer, most powerful first: the module's list; without
 * the module, the types this file has labels for (the server still decides).
 */
export function accountTypes() {
  // The module lists them least powerful first; the labels above are most powerful first.
  return limits ? [...limits.account_types].reverse() : Object.keys(ACCOUNT_TYPE_LABELS);
}

/** The privileges to offer: the module's list, or the labelled ones without it. */
export function privileges() {
  return limits ? [...limits.privileges] : Object.keys(PRIVILEGE_LABELS);
}

/** "30 days" for 2592000 (whole days, hours or minutes when exact). */
export function humanSeconds(s) {
  const units = [
    [86400, "day"],
    [3600, "hour"],
    [60, "minute"],
  ];
  for (const [n, unit] of units) {
    if (s >= n && s % n === 0) return `${s / n} ${unit}${s / n === 1 ? "" : "s"}`;
  }
  return `${s} seconds`;
}
