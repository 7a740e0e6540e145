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

/** `{org, token}` of this tab, or null. */
export function loadSession() {
  try {
    const raw = sessionStorage.getItem(SESSION_KEY);
    if (!raw) return null;
    const v = JSON.parse(raw);
    if (typeof v.org === "string" && typeof v.token === "string") return v;
  } catch {
    /* unreadable: treat as signed out */
  }
  return null;
}

export function saveSession(org, token) {
  sessionStorage.setItem(SESSION_KEY, JSON.stringify({ org, token }));
}

export function clearSession() {
  sessionStorage.removeItem(SESSION_KEY);
}

/**
 * Calls the admin API. Resolves with the parsed JSON body of a 2xx answer;
 * rejects with ApiError otherwise (status 0 and code `network` when the
 * server cannot be reached).
 */
export async function api(token, method, path, body) {
  const headers = { accept: "application/json", authorization: `Bearer ${token}` };
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
      return "Only an admin of this org can do this.";
    case "internal":
      return "The server had an internal error. Try again; if it persists, check the admin's logs.";
    case "payload_too_large":
      return "The request is too large.";
    default:
      return err.message || `Request failed (${err.code}).`;
  }
}
