// Shared browser helpers for the embedgate pages: DOM building (never
// innerHTML with data), toasts and live announcements, accessible modals
// (focus trapped, restored on close, Escape closes) and menu buttons, time
// formatting and clipboard copy. No dependencies, no build step.

/**
 * Builds an element. `props`: `class`, `text`, `dataset`, `on` (event map),
 * `hidden`, properties that exist on the element (value, checked, …) and
 * any other key as an attribute. Children: nodes, strings (as text), arrays,
 * null/false (skipped).
 */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "text") el.textContent = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key === "on") {
      for (const [ev, fn] of Object.entries(value)) el.addEventListener(ev, fn);
    } else if (key === "hidden") el.hidden = Boolean(value);
    else if (["value", "checked", "disabled", "selected", "readOnly", "required", "open"].includes(key)) el[key] = value;
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else if (child instanceof Node) el.append(child);
    else el.append(document.createTextNode(String(child)));
  }
}

let uid = 0;
/** A page-unique id with `prefix`. */
export function newId(prefix) {
  uid += 1;
  return `${prefix}-${uid}`;
}

// ------------------------------------------------------------------ live regions and toasts

function liveRegion(id, politeness) {
  let el = document.getElementById(id);
  if (!el) {
    el = h("div", { id, class: "visually-hidden", "aria-live": politeness, "aria-atomic": "true" });
    document.body.append(el);
  }
  return el;
}

/** Says `message` to screen readers (polite). */
export function announce(message) {
  const el = liveRegion("live-polite", "polite");
  el.textContent = "";
  // A new text node after a tick so repeated messages are announced again.
  setTimeout(() => {
    el.textContent = message;
  }, 30);
}

/**
 * Shows a toast (`kind`: info | success | error). Errors stay until
 * dismissed (and are announced assertively); others go after 5 s.
 */
export function toast(message, kind = "info", { timeout } = {}) {
  let box = document.getElementById("toasts");
  if (!box) {
    box = h("div", { id: "toasts", class: "toasts", role: "region", "aria-label": "Notifications" });
    document.body.append(box);
  }
  const item = h(
    "div",
    { class: `toast toast-${kind}`, role: kind === "error" ? "alert" : "status", dataset: { testid: "toast" } },
    h("span", { class: "toast-text", text: message }),
    h("button", { type: "button", class: "btn btn-sm", "aria-label": "Dismiss notification", text: "Dismiss", on: { click: () => item.remove() } })
  );
  box.append(item);
  const ms = timeout ?? (kind === "error" ? 0 : 5000);
  if (ms > 0) setTimeout(() => item.remove(), ms);
  return item;
}

// ------------------------------------------------------------------ modals

const FOCUSABLE =
  'a[href], button:not([disabled]), input:not([disabled]):not([type="hidden"]), select:not([disabled]), textarea:not([disabled]), summary, [tabindex]:not([tabindex="-1"])';

function focusables(root) {
  return [...root.querySelectorAll(FOCUSABLE)].filter((el) => !el.closest("[hidden]") && el.getClientRects().length > 0);
}

const openModals = [];

/**
 * Opens a modal dialog. `build(api)` returns `{ header?, body, footer }`
 * content; `api.close()` closes it. The dialog's nodes are removed from the
 * document on close (not hidden), the rest of the page is inert while open,
 * focus is trapped inside and returns to what had it before. `onClose`
 * runs after removal. When the opener is gone by then (its list was
 * re-rendered), `returnFocus()` names where focus goes instead.
 * `beforeClose(close)`, when given, is asked first whenever the user
 * closes it (×, Escape, a click outside, or a button calling
 * `requestClose`): it calls `close()` to go on, or not to keep it open.
 * `close()` itself always closes. Returns `{ root, dialog, close, requestClose }`.
 */
export function openModal({ title, description, wide = false, testid, initialFocus, returnFocus, onClose, beforeClose, build, dismissible = true }) {
  const titleId = newId("modal-title");
  const descId = description ? newId("modal-desc") : null;
  const opener = document.activeElement instanceof HTMLElement ? document.activeElement : null;
  let closed = false;

  const api = {
    close() {
      if (closed) return;
      closed = true;
      document.removeEventListener("keydown", onKey, true);
      backdrop.remove();
      openModals.splice(openModals.indexOf(api), 1);
      if (openModals.length === 0) setInert(false);
      const fallback = opener && opener.isConnected ? null : returnFocus && returnFocus();
      if (opener && opener.isConnected) opener.focus();
      else if (fallback && fallback.isConnected) fallback.focus();
      else {
        const main = document.querySelector("main");
        if (main) {
          main.setAttribute("tabindex", "-1");
          main.focus();
        }
      }
      if (onClose) onClose();
    },
    /** Closes it as the user asked: through `beforeClose` when there is one. */
    requestClose() {
      if (closed) return;
      if (beforeClose) beforeClose(() => api.close());
      else api.close();
    },
  };

  const content = build(api);
  const dialog = h(
    "div",
    {
      class: `modal${wide ? " modal-wide" : ""}`,
      role: "dialog",
      "aria-modal": "true",
      "aria-labelledby": titleId,
      "aria-describedby": descId,
      dataset: testid ? { testid } : undefined,
    },
    h(
      "div",
      { class: "modal-header" },
      h("div", {}, h("h2", { id: titleId, text: title }), description ? h("p", { id: descId, text: description }) : null),
      dismissible
        ? h("button", { type: "button", class: "btn btn-ghost btn-icon close-x", "aria-label": "Close", text: "×", on: { click: () => api.requestClose() } })
        : null
    ),
    h("div", { class: "modal-body" }, content.body),
    content.footer ? h("div", { class: "modal-footer" }, content.footer) : null
  );
  const backdrop = h("div", { class: "modal-backdrop" }, dialog);
  backdrop.addEventListener("mousedown", (e) => {
    if (e.target === backdrop && dismissible) api.requestClose();
  });

  function onKey(e) {
    if (openModals[openModals.length - 1] !== api) return;
    if (e.key === "Escape") {
      // A menu or a native control inside may handle Escape first.
      if (e.defaultPrevented) return;
      e.preventDefault();
      e.stopPropagation();
      if (dismissible) api.requestClose();
    } else if (e.key === "Tab") {
      const items = focusables(dialog);
      if (items.length === 0) {
        e.preventDefault();
        return;
      }
      const first = items[0];
      const last = items[items.length - 1];
      if (!dialog.contains(document.activeElement)) {
        e.preventDefault();
        first.focus();
      } else if (e.shiftKey && document.activeElement === first) {
        e.preventDefault();
        last.focus();
      } else if (!e.shiftKey && document.activeElement === last) {
        e.preventDefault();
        first.focus();
      }
    }
  }
  // Focus that escapes (a click on the backdrop's scroll area) comes back.
  backdrop.addEventListener("focusout", (e) => {
    if (closed) return;
    if (e.relatedTarget && !dialog.contains(e.relatedTarget) && openModals[openModals.length - 1] === api) {
      const items = focusables(dialog);
      if (items[0]) items[0].focus();
    }
  });

  document.addEventListener("keydown", onKey, true);
  openModals.push(api);
  setInert(true);
  document.body.append(backdrop);
  const target = (initialFocus && initialFocus()) || focusables(dialog).find((el) => !el.classList.contains("close-x")) || dialog;
  if (target === dialog) dialog.setAttribute("tabindex", "-1");
  target.focus();
  api.root = backdrop;
  api.dialog = dialog;
  return api;
}

function setInert(on) {
  for (const el of document.querySelectorAll("[data-app-root]")) {
    el.inert = on;
    if (on) el.setAttribute("aria-hidden", "true");
    else el.removeAttribute("aria-hidden");
  }
}

// ------------------------------------------------------------------ menu button

/**
 * A menu button (`aria-haspopup="menu"`) with items `{label, onSelect,
 * disabled?, danger?, hint?}`. Arrow keys, Home/End move; Enter/Space
 * select; Escape and Tab close; focus returns to the button.
 */
export function menuButton({ label, ariaLabel, items, testid }) {
  const menuId = newId("menu");
  const button = h("button", {
    type: "button",
    class: "btn btn-sm",
    "aria-haspopup": "menu",
    "aria-expanded": "false",
    "aria-controls": menuId,
    "aria-label": ariaLabel,
    dataset: testid ? { testid } : undefined,
  });
  button.append(h("span", { text: label }), h("span", { "aria-hidden": "true", text: "▾" }));
  const menu = h("ul", { class: "menu", role: "menu", id: menuId, "aria-label": ariaLabel || label, hidden: true });
  const entries = items.map((item) => {
    if (item === "separator") {
      menu.append(h("li", { role: "separator", class: "menu-sep" }));
      return null;
    }
    const el = h("li", {
      role: "menuitem",
      tabindex: "-1",
      class: item.danger ? "danger" : "",
      "aria-disabled": item.disabled ? "true" : null,
      title: item.disabled && item.hint ? item.hint : null,
      text: item.label,
    });
    el.addEventListener("click", () => choose(item));
    menu.append(el);
    return el;
  });
  const menuItems = entries.filter(Boolean);
  const anchor = h("div", { class: "menu-anchor" }, button, menu);

  function isOpen() {
    return !menu.hidden;
  }
  function place() {
    // Fixed to the viewport, so a scrolling table (overflow) cannot clip it.
    const r = button.getBoundingClientRect();
    menu.style.position = "fixed";
    menu.style.right = "auto";
    const width = menu.offsetWidth;
    menu.style.left = `${Math.max(8, Math.min(r.right - width, window.innerWidth - width - 8))}px`;
    const below = r.bottom + 4;
    const height = menu.offsetHeight;
    menu.style.top = `${below + height > window.innerHeight - 8 && r.top - height - 4 > 8 ? r.top - height - 4 : below}px`;
  }
  function onViewportChange() {
    if (!menu.hidden) place();
  }
  function open(focusIndex = 0) {
    menu.hidden = false;
    place();
    button.setAttribute("aria-expanded", "true");
    document.addEventListener("mousedown", onOutside, true);
    window.addEventListener("resize", onViewportChange);
    window.addEventListener("scroll", onViewportChange, true);
    const i = focusIndex < 0 ? menuItems.length - 1 : focusIndex;
    if (menuItems[i]) menuItems[i].focus({ preventScroll: true });
  }
  function close(returnFocus = true) {
    if (!isOpen()) return;
    menu.hidden = true;
    button.setAttribute("aria-expanded", "false");
    document.removeEventListener("mousedown", onOutside, true);
    window.removeEventListener("resize", onViewportChange);
    window.removeEventListener("scroll", onViewportChange, true);
    if (returnFocus) button.focus();
  }
  function choose(item) {
    if (item.disabled) return;
    close(true);
    item.onSelect();
  }
  function onOutside(e) {
    if (!anchor.contains(e.target)) close(false);
  }
  button.addEventListener("click", () => (isOpen() ? close() : open(0)));
  button.addEventListener("keydown", (e) => {
    if (e.key === "ArrowDown" || e.key === "Enter" || e.key === " ") {
      e.preventDefault();
      open(0);
    } else if (e.key === "ArrowUp") {
      e.preventDefault();
      open(-1);
    }
  });
  menu.addEventListener("keydown", (e) => {
    const i = menuItems.indexOf(document.activeElement);
    const move = (j) => menuItems[(j + menuItems.length) % menuItems.length].focus({ preventScroll: true });
    switch (e.key) {
      case "ArrowDown":
        e.preventDefault();
        move(i + 1);
        break;
      case "ArrowUp":
        e.preventDefault();
        move(i - 1);
        break;
      case "Home":
        e.preventDefault();
        move(0);
        break;
      case "End":
        e.preventDefault();
        move(menuItems.length - 1);
        break;
      case "Escape":
        e.preventDefault();
        e.stopPropagation();
        close(true);
        break;
      case "Tab":
        close(false);
        break;
      case "Enter":
      case " ": {
        e.preventDefault();
        const idx = entries.indexOf(document.activeElement);
        if (idx >= 0) choose(items[idx]);
        break;
      }
      default:
        break;
    }
  });
  return anchor;
}

// ------------------------------------------------------------------ time

const absoluteFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" });
const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium" });
const relativeFormat = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });

/** "Nov 23, 2026, 11:10:02 PM" for Unix seconds. */
export function absoluteTime(unix) {
  return absoluteFormat.format(new Date(unix * 1000));
}

/** "Nov 23, 2026" for Unix seconds. */
export function shortDate(unix) {
  return dateFormat.format(new Date(unix * 1000));
}

const timeFormat = new Intl.DateTimeFormat(undefined, { timeStyle: "medium" });

/** "11:10:02 PM" for Unix seconds. */
export function timeOfDay(unix) {
  return timeFormat.format(new Date(unix * 1000));
}

/** "3 minutes ago" / "in 2 hours" for Unix seconds. */
export function relativeTime(unix, now = Date.now() / 1000) {
  const diff = unix - now;
  const abs = Math.abs(diff);
  if (abs < 45) return diff <= 0 ? "just now" : "in a few seconds";
  const units = [
    ["year", 31536000],
    ["month", 2592000],
    ["week", 604800],
    ["day", 86400],
    ["hour", 3600],
    ["minute", 60],
  ];
  for (const [unit, secs] of units) {
    if (abs >= secs || unit === "minute") return relativeFormat.format(Math.round(diff / secs), unit);
  }
  return "";
}

/** A `<time>` showing relative time, with the absolute time as its title. */
export function timeEl(unix) {
  return h("time", { datetime: new Date(unix * 1000).toISOString(), title: absoluteTime(unix), text: relativeTime(unix) });
}

// ------------------------------------------------------------------ clipboard

/**
 * Copies the current text of `source` (an element: read at click time so no
 * closure keeps a copy of the value) and announces "Copied". Falls back to
 * a selection + execCommand when the Clipboard API is unavailable, and
 * finally asks the user to press Ctrl+C on the selected text.
 */
export async function copyFrom(source, button, what = "Value") {
  const text = source.textContent;
  let ok = false;
  try {
    if (navigator.clipboard && window.isSecureContext) {
      await navigator.clipboard.writeText(text);
      ok = true;
    }
  } catch {
    ok = false;
  }
  if (!ok) {
    ok = legacyCopy(source);
  }
  if (ok) {
    announce(`Copied ${what.toLowerCase()} to the clipboard`);
    if (button) flash(button, "Copied");
  } else {
    selectContents(source);
    announce(`${what} selected: press Ctrl+C (or ⌘C) to copy`);
    if (button) flash(button, "Press Ctrl+C");
  }
}

function selectContents(el) {
  const range = document.createRange();
  range.selectNodeContents(el);
  const sel = window.getSelection();
  sel.removeAllRanges();
  sel.addRange(range);
}

function legacyCopy(el) {
  try {
    selectContents(el);
    const ok = document.execCommand && document.execCommand("copy");
    window.getSelection().removeAllRanges();
    return Boolean(ok);
  } catch {
    return false;
  }
}

function flash(button, text) {
  const label = button.querySelector(".btn-label") || button;
  const before = label.dataset.label || label.textContent;
  label.dataset.label = before;
  label.textContent = text;
  setTimeout(() => {
    if (label.isConnected) label.textContent = before;
  }, 1600);
}

/** A read-only value with a Copy button. The value lives only in `code`. */
export function copyField({ value, label, testid, describedBy }) {
  const code = h("code", { class: "value", dataset: testid ? { testid } : undefined, "aria-label": label, text: value });
  const button = h(
    "button",
    { type: "button", class: "btn", "aria-describedby": describedBy, on: { click: () => copyFrom(code, button, label) } },
    h("span", { class: "btn-label", text: "Copy" })
  );
  button.setAttribute("aria-label", `Copy ${label.toLowerCase()}`);
  return h("div", { class: "copy-field" }, code, button);
}

/**
 * A modal that shows a value once (an API token, an invitation code): a
 * warning (`lines`), the value in a copy field, optional `extra` nodes. The
 * value lives only in its <code> node, removed when the modal closes; then
 * `closed` is announced and `onClose` runs. `testid` names the modal
 * (`<testid>-modal`), the value (`valueTestid`, by default `<testid>-value`)
 * and Done (`<testid>-done`).
 */
export function showOnceModal({ title, description, label, value, testid, valueTestid = `${testid}-value`, lines, extra = null, closed, onClose }) {
  const warnId = newId(`${testid}-warning`);
  const field = copyField({ value, label, testid: valueTestid, describedBy: warnId });
  const body = h(
    "div",
    {},
    h(
      "div",
      { class: "alert alert-warning secret-warning", id: warnId, role: "note" },
      h("span", { class: "alert-icon", "aria-hidden": "true", text: "!" }),
      h("div", {}, lines.map((text) => h("p", { text })))
    ),
    h("div", { class: "field" }, h("span", { class: "field-label", text: label }), field),
    extra
  );
  const modal = openModal({
    title,
    description,
    testid: `${testid}-modal`,
    initialFocus: () => field.querySelector("button"),
    build: () => ({
      body,
      footer: [h("button", { type: "button", class: "btn btn-primary", text: "Done", dataset: { testid: `${testid}-done` }, on: { click: () => modal.close() } })],
    }),
    onClose: () => {
      body.replaceChildren();
      announce(closed);
      if (onClose) onClose(modal);
    },
  });
  return modal;
}

// ------------------------------------------------------------------ misc

/** Toggles a button's pending state (spinner + disabled + aria-busy). */
export function setPending(button, pending, pendingText) {
  if (pending) {
    button.dataset.idleText = button.textContent;
    button.disabled = true;
    button.setAttribute("aria-busy", "true");
    button.replaceChildren(h("span", { class: "spinner", "aria-hidden": "true" }), h("span", { text: pendingText }));
  } else {
    button.disabled = false;
    button.removeAttribute("aria-busy");
    if (button.dataset.idleText !== undefined) button.textContent = button.dataset.idleText;
  }
}

/**
 * An email address as text that may wrap at sensible points: a <wbr>
 * after its "@" and after the dots, dashes, underscores and pluses of its
 * local part, so a narrow column breaks it there (and anywhere only when
 * one piece alone is wider than the column).
 */
export function emailText(email) {
  const at = email.lastIndexOf("@");
  const local = at < 0 ? email : email.slice(0, at + 1);
  const out = [];
  for (const piece of local.split(/(?<=[.\-_+@])/)) out.push(piece, h("wbr"));
  out.pop();
  if (at >= 0) out.push(h("wbr"), email.slice(at + 1));
  return out;
}

/** Pretty JSON text (for `<pre>`). */
export function prettyJson(value) {
  return JSON.stringify(value, null, 2);
}

// ------------------------------------------------------------------ forms

/**
 * A labelled form field: `control` gets `id` and an `aria-describedby` of
 * its hint (if any) and its error paragraph (always last, see
 * `fieldError`). `counter` (a node) goes after the hint.
 */
export function formField({ id, label, control, hint, optional, counter, testid }) {
  const errorId = `${id}-error`;
  const hintId = hint ? `${id}-hint` : null;
  control.id = id;
  control.setAttribute("aria-describedby", [hintId, errorId].filter(Boolean).join(" "));
  return h(
    "div",
    { class: "field", dataset: testid ? { testid } : undefined },
    h("label", { for: id }, label, optional ? h("span", { class: "optional", text: " (optional)" }) : null),
    control,
    hint || counter ? h("div", { class: "field-foot" }, hint ? h("p", { class: "hint", id: hintId }, hint) : h("span"), counter || null) : null,
    h("p", { class: "error", id: errorId, hidden: true })
  );
}

/** The error paragraph of a control made by `formField` (the last id of its aria-describedby). */
export function fieldError(control) {
  const ids = (control.getAttribute("aria-describedby") || "").split(" ").filter(Boolean);
  return ids.length ? document.getElementById(ids[ids.length - 1]) : null;
}

/**
 * Shows (or clears, with a falsy `message`) an error under a field:
 * `inputs` (one control or a list: a radio or checkbox group) get
 * `aria-invalid`, `errorEl` the text.
 */
export function setFieldError(inputs, errorEl, message) {
  for (const input of Array.isArray(inputs) ? inputs : [inputs]) {
    if (message) input.setAttribute("aria-invalid", "true");
    else input.removeAttribute("aria-invalid");
  }
  if (!errorEl) return;
  errorEl.textContent = message || "";
  errorEl.hidden = !message;
}

/** "12 / 100" under a text field, updated as it is typed in; `max` null: nothing. */
export function charCounter(control, max) {
  if (!max) return null;
  const el = h("span", { class: "counter", "aria-hidden": "true" });
  const update = () => {
    const n = [...control.value].length;
    el.textContent = `${n} / ${max}`;
    el.classList.toggle("is-over", n > max);
  };
  control.addEventListener("input", update);
  update();
  return el;
}

/** An alert box for a form-level error (hidden until `showFormError`). */
export function formErrorBox() {
  return h("div", { class: "alert alert-danger form-error", role: "alert", hidden: true, dataset: { testid: "form-error" } });
}

export function showFormError(box, message) {
  if (!message) {
    box.hidden = true;
    box.replaceChildren();
    return;
  }
  box.replaceChildren(h("span", { class: "alert-icon", "aria-hidden": "true", text: "!" }), h("p", { text: message }));
  box.hidden = false;
}

// ------------------------------------------------------------------ confirmation dialogs

/**
 * A confirmation dialog: Cancel (`cancelLabel`; focused first) and a
 * confirm button that runs `action()`. When `action` resolves the dialog
 * closes; when it rejects with an Error whose `showInDialog` is true, the
 * message is shown in the dialog (which stays open: by the typed field
 * when the error has `field`, see `dialogError`); any other rejection
 * closes it and is rethrown. `onClose` runs once it is closed.
 *
 * `typeToConfirm: {expected, label, hint?, testid?}` adds a text field
 * (focused first instead of Cancel) that must hold exactly `expected`
 * before the confirm button is enabled; Enter in it confirms.
 */
export function confirmDialog({ title, description, lines, confirmLabel, pendingLabel, cancelLabel = "Cancel", danger, testid, action, returnFocus, onClose, typeToConfirm }) {
  const confirm = h("button", { type: "button", class: `btn ${danger ? "btn-danger" : "btn-primary"}`, text: confirmLabel, dataset: { testid: `${testid}-confirm` } });
  const cancel = h("button", { type: "button", class: "btn", text: cancelLabel, dataset: { testid: `${testid}-cancel` } });
  const errorBox = formErrorBox();
  let typed = null;
  let typedField = null;
  if (typeToConfirm) {
    typed = h("input", { type: "text", autocomplete: "off", spellcheck: "false", autocapitalize: "off", dataset: typeToConfirm.testid ? { testid: typeToConfirm.testid } : undefined });
    typedField = formField({ id: newId("confirm-text"), label: typeToConfirm.label, control: typed, hint: typeToConfirm.hint });
    typedField.classList.add("confirm-typed");
  }
  const ready = () => !typed || typed.value === typeToConfirm.expected;
  confirm.disabled = !ready();
  let pending = false;
  const modal = openModal({
    title,
    description,
    testid,
    initialFocus: () => typed || cancel,
    returnFocus,
    onClose,
    build: () => ({ body: h("div", {}, errorBox, lines, typedField), footer: [cancel, confirm] }),
  });
  if (typed) {
    typed.addEventListener("input", () => {
      if (typed.getAttribute("aria-invalid")) setFieldError(typed, fieldError(typed), null);
      if (!pending) confirm.disabled = !ready();
    });
    typed.addEventListener("keydown", (e) => {
      if (e.key === "Enter") {
        e.preventDefault();
        if (!confirm.disabled) confirm.click();
      }
    });
  }
  cancel.addEventListener("click", () => modal.close());
  confirm.addEventListener("click", async () => {
    if (pending || !ready()) return;
    pending = true;
    showFormError(errorBox, null);
    if (typed) setFieldError(typed, fieldError(typed), null);
    setPending(confirm, true, pendingLabel);
    cancel.disabled = true;
    if (typed) typed.readOnly = true;
    try {
      await action();
      modal.close();
    } catch (err) {
      if (err && err.showInDialog) {
        pending = false;
        setPending(confirm, false);
        cancel.disabled = false;
        if (typed) typed.readOnly = false;
        confirm.disabled = !ready();
        if (err.field && typed) {
          setFieldError(typed, fieldError(typed), err.message);
          typed.focus();
        } else {
          showFormError(errorBox, err.message);
          cancel.focus();
        }
        return;
      }
      modal.close();
      throw err;
    }
  });
  return modal;
}

/**
 * An Error that `confirmDialog` shows inside the dialog; with `field`
 * (the server's 422 named the typed confirmation), by its text field.
 */
export function dialogError(message, { field } = {}) {
  const err = new Error(message);
  err.showInDialog = true;
  err.field = field || null;
  return err;
}

// ------------------------------------------------------------------ tables

/**
 * Wraps a table in its own horizontal scroll container. While the table is
 * wider than the container, the container is a focusable, labelled region
 * (so it can be scrolled from the keyboard) with a shadow on the side that
 * has more.
 */
export function scrollTable(table, label) {
  const wrap = h("div", { class: "table-wrap", dataset: { testid: "table-wrap" } }, table);
  const update = () => {
    const scrollable = wrap.scrollWidth > wrap.clientWidth + 1;
    if (scrollable) {
      wrap.setAttribute("tabindex", "0");
      wrap.setAttribute("role", "region");
      wrap.setAttribute("aria-label", `${label} (scrolls sideways)`);
    } else {
      wrap.removeAttribute("tabindex");
      wrap.removeAttribute("role");
      wrap.removeAttribute("aria-label");
    }
    wrap.classList.toggle("has-more-left", scrollable && wrap.scrollLeft > 1);
    wrap.classList.toggle("has-more-right", scrollable && wrap.scrollLeft + wrap.clientWidth < wrap.scrollWidth - 1);
  };
  wrap.addEventListener("scroll", update, { passive: true });
  if (typeof ResizeObserver === "function") {
    const ro = new ResizeObserver(update);
    ro.observe(wrap);
    ro.observe(table);
  }
  requestAnimationFrame(update);
  return wrap;
}

/**
 * Re-renders `container` with `render()` and puts the focus back on the
 * same control (same `data-testid` in the row with the same `rowKey`
 * data attribute) when it was inside.
 */
export function keepingFocus(container, rowKey, render) {
  const focused = document.activeElement;
  let target = null;
  if (focused && container.contains(focused) && focused.dataset.testid) {
    const row = focused.closest(`[data-${rowKey}]`);
    target = row ? `[data-${rowKey}="${CSS.escape(row.getAttribute(`data-${rowKey}`))}"] [data-testid="${focused.dataset.testid}"]` : `[data-testid="${focused.dataset.testid}"]`;
  }
  render();
  if (target && !container.contains(document.activeElement)) {
    const again = container.querySelector(target);
    if (again) again.focus();
  }
}

/**
 * A long identifier (client ID, token ID) in monospace, cut with an
 * ellipsis when the column is narrow (the whole value stays the text, the
 * title and what Copy copies), and a Copy button.
 */
export function idCell(value, { label, what = "Value", testid, copy = true } = {}) {
  const code = h("code", { class: "id-text", title: value, text: value, dataset: testid ? { testid } : undefined });
  if (!copy) return h("div", { class: "id-cell" }, code);
  const button = h(
    "button",
    { type: "button", class: "btn btn-ghost btn-sm btn-copy", "aria-label": `Copy ${label}`, title: `Copy ${label}`, on: { click: () => copyFrom(code, button, what) } },
    h("span", { class: "btn-label", text: "Copy" })
  );
  return h("div", { class: "id-cell" }, code, button);
}
