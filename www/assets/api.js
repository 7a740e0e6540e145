// The admin API client of the console. The member token lives only in
// sessionStorage (this tab; gone when it closes). Errors are ApiError with
// the server's `{error, message, field?}` or `network`.

const SESSION_KEY = "embedgate.console.session";

export class ApiError extends Error {
  constructor(status, code, message, field) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.field = field || null;
  }
}

/**
 * The member token of this tab, or null. Only the token is kept: the org,
 * the email and the account type are asked of the server (`GET /api/v1/me`)
 * on every load, so a changed account type shows on reload.
 */
export function loadToken() {
  try {
    const raw = sessionStorage.getItem(SESSION_KEY);
    if (!raw) return null;
    const v = JSON.parse(raw);
    if (v && typeof v.token === "string" && v.token) return v.token;
  } catch {
    /* unreadable: treat as signed out */
  }
  return null;
}

export function saveToken(token) {
  sessionStorage.setItem(SESSION_KEY, JSON.stringify({ token }));
}

export function clearSession() {
  sessionStorage.removeItem(SESSION_KEY);
}

/** `{org, email, account_type}` of `token` (`GET /api/v1/me`); rejects with ApiError (401, 429, …). */
export async function whoAmI(token) {
  const me = await api(token, "GET", "/api/v1/me");
  if (!me || typeof me.org !== "string" || typeof me.email !== "string" || typeof me.account_type !== "string") {
    throw new ApiError(0, "bad_answer", "The server's answer to /api/v1/me was not understood.");
  }
  return me;
}

/**
 * Exchanges an invitation code (`egi_…`) for its member's own API token:
 * `{id, email, token, expires_at}` (`POST /api/v1/invitations/redeem`, no
 * token needed); rejects with ApiError.
 */
export async function redeem(code) {
  const answer = await api(null, "POST", "/api/v1/invitations/redeem", { code });
  if (!answer || typeof answer.token !== "string" || typeof answer.email !== "string") {
    throw new ApiError(0, "bad_answer", "The server's answer to the invitation was not understood.");
  }
  return answer;
}

/**
 * Calls the admin API (`token` null: without one). Resolves with the parsed JSON body of a 2xx answer;
 * rejects with ApiError otherwise (status 0 and code `network` when the
 * server cannot be reached).
 */
export async function api(token, method, path, body) {
  const headers = { accept: "application/json" };
  if (token !== null) headers.authorization = `Bearer ${token}`;
  const init = { method, headers, cache: "no-store", credentials: "omit", referrerPolicy: "no-referrer" };
  if (body !== undefined) {
    headers["content-type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let resp;
  try {
    resp = await fetch(path, init);
  } catch {
    throw new ApiError(0, "network", "The server could not be reached. Check your connection and that embedgate is running.");
  }
  let data = null;
  const text = await resp.text();
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (resp.ok) return data;
  const code = data && typeof data.error === "string" ? data.error : `http_${resp.status}`;
  const message = data && typeof data.message === "string" ? data.message : `The server answered HTTP ${resp.status}.`;
  throw new ApiError(resp.status, code, message, data && data.field);
}

/** A human sentence for errors that are not about a form field. */
export function describeError(err) {
  if (!(err instanceof ApiError)) return "Something went wrong in the page. Reload and try again.";
  switch (err.code) {
    case "network":
      return err.message;
    case "too_many_attempts":
      return "Too many failed sign-in attempts from this address. Wait a minute and try again.";
    case "forbidden":
      return "Only an admin of this org can do this. If your account type changed, reload the page.";
    case "last_admin":
      return "The org's last active admin cannot be deactivated or demoted: make another member an admin first.";
    case "member_exists":
      return "A member with this email already exists in the org (deactivated members keep their email).";
    case "internal":
      return "The server had an internal error. Try again; if it persists, check the admin's logs.";
    case "payload_too_large":
      return "The request is too large.";
    default:
      return err.message || `Request failed (${err.code}).`;
  }
}
