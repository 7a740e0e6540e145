// What the console's pages share: who is signed in, the org's members and
// credentials as last loaded, the org-scoped API call and the error routing.
// console.js owns the shell (sign in, navigation); people.js and the
// Developer Access code in console.js render from this state.

import { api, ApiError, describeError } from "./api.js";
import { toast } from "./ui.js";

export const state = {
  /** From GET /api/v1/me. */
  org: null,
  email: null,
  accountType: null,
  token: null,
  isAdmin: false,
  /** GET …/members, as last loaded (null: not yet). */
  members: null,
  /** GET …/credentials (every page), as last loaded (null: not yet). */
  credentials: null,
};

export const $ = (id) => document.getElementById(id);

/**
 * What console.js does for the other pages: `unauthorized` (a 401: the
 * session is over), `forbidden` (a 403: the role may have changed),
 * `recheckIdentity` (ask /api/v1/me again), `reloadCredentials`.
 */
export const hooks = { unauthorized: () => {}, forbidden: () => {}, recheckIdentity: async () => {}, reloadCredentials: async () => {} };

export function setHooks(fns) {
  Object.assign(hooks, fns);
}

/** An admin API call under `/api/v1/orgs/{org}`. */
export function call(method, path, body) {
  return api(state.token, method, `/api/v1/orgs/${encodeURIComponent(state.org)}${path}`, body);
}

/** Whether `err` ended the session (401): the caller stops, the sign-in page is shown. */
export function endsSession(err) {
  if (err instanceof ApiError && err.status === 401) {
    hooks.unauthorized();
    return true;
  }
  return false;
}

/** Routes an API failure: 401 ends the session, 403 re-checks the role, the rest become a toast. */
export function handleError(err, context) {
  if (endsSession(err)) return;
  if (err instanceof ApiError && err.status === 403) hooks.forbidden();
  const text = describeError(err);
  toast(context ? `${context}: ${text}` : text, "error");
}

/** Loads the org's members into `state.members` (rejects with ApiError). */
export async function loadMembers() {
  const res = await call("GET", "/members");
  state.members = Array.isArray(res.members) ? res.members : [];
  return state.members;
}

/** Replaces (or adds) one member in `state.members` with the server's answer. */
export function putMember(member) {
  if (!state.members) state.members = [];
  const i = state.members.findIndex((m) => m.email === member.email);
  if (i >= 0) state.members[i] = member;
  else {
    state.members.push(member);
    state.members.sort((a, b) => (a.email < b.email ? -1 : a.email > b.email ? 1 : 0));
  }
}

/** Every credential of the org (all pages) into `state.credentials`. */
export async function fetchCredentials() {
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
  return all;
}

/** The route for one member's page. */
export function memberHref(email) {
  return `#people/${encodeURIComponent(email)}`;
}
