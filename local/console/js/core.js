// The console's core: the signed-in token, the API client, messages (status / alert), dialogs, DOM helpers and paging.
// Everything goes through the same HTTP API and Bearer tokens the Books360 UI uses; nothing here knows a back door.

export const TOKEN_KEY = "books360_token";
export const TENANT_KEY = "books360_tenant";
export const DEMO_TENANT = "demo";
export const BULK_LIMIT = 30;

/** An answer that is not a success, as an RFC 9457 problem: {type, title, status, detail, errors: [{field, message}]}. */
export class Problem extends Error {
  constructor(body) {
    super(`${body.title}: ${body.detail || ""}`);
    this.problem = { type: "about:blank", detail: "", ...body, errors: Array.isArray(body.errors) ? body.errors : [] };
  }
}

function problemOf(status, text) {
  let body = null;
  try {
    body = JSON.parse(text);
  } catch {
    body = null;
  }
  if (body && typeof body === "object" && typeof body.title === "string") return new Problem({ status, ...body });
  // API Gateway's own answers ({"message": "Not Found"}) and anything else that is not a problem document.
  // An HTML error page (a proxy's) is shown as its text, not its markup.
  const plain = (text || "").replace(/<(script|style)[\s\S]*?<\/\1>/gi, " ").replace(/<[^>]*>/g, " ").replace(/\s+/g, " ").trim();
  const detail = body && typeof body.message === "string" ? body.message : (plain || "The answer had no body.").slice(0, 300);
  return new Problem({ title: `HTTP ${status}`, status, detail });
}

/** Any thrown value as a problem document (a bug in the console is shown too, never a blank screen). */
export function asProblem(error) {
  if (error instanceof Problem) return error.problem;
  return { type: "about:blank", title: "The console failed", status: 0, detail: String(error && error.message ? error.message : error), errors: [] };
}

// ---- the signed-in user -------------------------------------------------------------------------------------------

export const session = { token: null, tenantId: null };
const listeners = [];

/** Called with the tenant id whenever the signed-in tenant changes. */
export function onTenantChange(listener) {
  listeners.push(listener);
}

export function claimsOf(token) {
  try {
    const payload = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(atob(payload));
  } catch {
    return null;
  }
}

function useToken(token, tenantId) {
  session.token = token;
  session.tenantId = tenantId;
  localStorage.setItem(TOKEN_KEY, token);
  localStorage.setItem(TENANT_KEY, tenantId);
  // The confirm landing (GET /_local/ui/integrations/quickbooks?result=confirm) is answered by the front before this
  // page runs: it confirms under this cookie's token, so the cookie always follows the console's current token.
  document.cookie = `${TOKEN_KEY}=${token}; path=/; max-age=43200; SameSite=Lax`;
  for (const listener of listeners) listener(tenantId);
}

/** Mint a token for `tenantId` with the local stack's POST /_local/tokens and use it from now on. */
export async function signIn(tenantId) {
  let answer;
  try {
    answer = await fetch("/_local/tokens", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ tenantId }),
    });
  } catch (error) {
    throw new Problem({ title: "Network error", status: 0, detail: `POST /_local/tokens got no answer (${error.message}).` });
  }
  const text = await answer.text();
  if (!answer.ok) throw problemOf(answer.status, text);
  useToken(JSON.parse(text).token, tenantId);
}

/** The token kept in localStorage while it has more than a minute left, else a fresh one for the demo tenant. */
export async function restoreSession() {
  const token = localStorage.getItem(TOKEN_KEY);
  const claims = token ? claimsOf(token) : null;
  if (claims && typeof claims.tenant_id === "string" && claims.exp * 1000 > Date.now() + 60_000) {
    useToken(token, claims.tenant_id);
    return;
  }
  await signIn(DEMO_TENANT);
}

// ---- the API client ------------------------------------------------------------------------------------------------

/**
 * `method path` with the signed-in user's token; the parsed JSON (null for 204), or throws a Problem.
 * `signal` (an AbortController's) cancels it: then it throws the browser's AbortError, which is not a problem to show.
 */
export async function api(method, path, body, { signal } = {}) {
  const headers = { Authorization: `Bearer ${session.token}`, Accept: "application/json, application/problem+json" };
  const init = { method, headers, signal };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let answer;
  try {
    answer = await fetch(path, init);
  } catch (error) {
    if (isAbort(error)) throw error;
    throw new Problem({ title: "Network error", status: 0, detail: `${method} ${path} got no answer (${error.message}). Is the local stack running?` });
  }
  if (answer.status === 204) return null;
  const text = await answer.text();
  if (answer.status === 401) {
    // A token of another stack (another LOCAL_JWT_SECRET) or an expired one: a new one is a tenant switch away.
    const problem = problemOf(answer.status, text);
    problem.problem.detail = `${problem.problem.detail} Use “Switch tenant” to sign in again.`.trim();
    throw problem;
  }
  if (!answer.ok) throw problemOf(answer.status, text);
  try {
    return JSON.parse(text);
  } catch {
    throw new Problem({ title: "Unreadable answer", status: answer.status, detail: `${method} ${path} answered with a body that is not JSON.` });
  }
}

/** A request cancelled because a newer one replaced it (not an error to show). */
export function isAbort(error) {
  return Boolean(error) && error.name === "AbortError";
}

/**
 * The latest of a series of loads that fill the same place (a table, a picker): `begin()` cancels the one before and
 * returns {signal, current()}; only while `current()` is true may an answer be shown. So whichever answer arrives last,
 * the screen shows the answer to the last request (a filter searched while the first page loads, two paging clicks).
 */
export class Latest {
  constructor() {
    this.seq = 0;
    this.controller = null;
  }

  begin() {
    this.cancel();
    const seq = this.seq;
    const controller = (this.controller = new AbortController());
    return { signal: controller.signal, current: () => seq === this.seq && !controller.signal.aborted };
  }

  cancel() {
    this.seq += 1;
    if (this.controller) this.controller.abort();
    this.controller = null;
  }
}

/** `?a=1&b=2` from the values that are set (empty strings and nulls are left out). */
export function query(params) {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value !== null && value !== undefined && value !== "") search.set(name, value);
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}

export const pathId = (id) => encodeURIComponent(id);

// ---- DOM helpers ---------------------------------------------------------------------------------------------------

/** An element: h("button", {type: "button", onclick: f}, "Save"). Text children are text nodes (never HTML). */
export function h(tag, attrs = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else if (name === "class") element.className = value;
    else element.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : String(child));
  }
  return element;
}

/** `2026-11-24T10:00:00Z` as `2026-11-24 10:00 UTC` (strings only: no time zone arithmetic). */
export function when(iso) {
  if (!iso) return "";
  const match = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2})/.exec(iso);
  return match ? `${match[1]} ${match[2]} UTC` : iso;
}

/** Money exactly as the API wrote it (a decimal string); the console never computes with it. */
export function money(value) {
  return value === null || value === undefined ? "" : String(value);
}

/**
 * The table's rows replaced. A keyboard user's focus on a row's control (a dialog closed returns it there, then the
 * list reloads) moves to the same control of the same row (data-id) when it is still there, else to that row's first
 * control, else to the table: never lost to the page's top.
 */
export function fillRows(tbody, rows, emptyText) {
  const focused = document.activeElement;
  let was = null;
  if (focused && focused !== document.body && tbody.contains(focused)) {
    const row = focused.closest("tr");
    was = { id: row && row.dataset.id, name: controlName(focused) };
  }
  if (rows.length) {
    tbody.replaceChildren(...rows);
  } else {
    const columns = tbody.closest("table").querySelectorAll("thead th:not([hidden])").length || 1;
    tbody.replaceChildren(h("tr", { class: "empty" }, h("td", { colspan: columns }, emptyText)));
  }
  if (was) refocus(tbody, was);
}

const controlName = (element) => element.getAttribute("aria-label") || element.textContent.trim();

function refocus(tbody, was) {
  const row = was.id === undefined ? null : [...tbody.rows].find((r) => r.dataset.id === was.id);
  const usable = row ? [...row.querySelectorAll("button, input, select, a[href]")].filter((c) => !c.disabled && !c.closest("[hidden]")) : [];
  const target = usable.find((c) => controlName(c) === was.name) || usable[0];
  if (target) {
    target.focus();
    return;
  }
  const table = tbody.closest("table");
  if (!table.hasAttribute("tabindex")) table.setAttribute("tabindex", "-1");
  table.focus();
}

export function definitionList(pairs) {
  return h("dl", { class: "facts" }, pairs.flatMap(([term, value]) => [h("dt", {}, term), h("dd", {}, value ?? "")]));
}

// ---- messages ------------------------------------------------------------------------------------------------------

/** A success (or progress) message: role="status". */
export function showStatus(area, text) {
  area.replaceChildren(h("p", { class: "message ok", role: "status" }, text));
}

export function showBusy(area, text) {
  area.replaceChildren(h("p", { class: "message busy", role: "status" }, text));
}

/** A problem: role="alert" with its title, detail and each field error. */
export function showProblem(area, error) {
  const problem = asProblem(error);
  const box = h(
    "div",
    { class: "message error", role: "alert", "data-status": problem.status },
    h("strong", { class: "problem-title" }, problem.title),
    problem.detail ? h("span", { class: "problem-detail" }, ` ${problem.detail}`) : null,
  );
  if (problem.errors.length) {
    box.append(h("ul", {}, problem.errors.map((e) => h("li", {}, h("code", {}, e.field), `: ${e.message}`))));
  }
  area.replaceChildren(box);
  return problem;
}

/** Remove the problems shown in `area` (a list that loads again is no longer failing), keeping any status. */
export function clearProblems(area) {
  for (const alert of area.querySelectorAll("[role=alert]")) alert.remove();
}

export function clearMessages(area) {
  area.replaceChildren();
}

/** Each of the problem's `errors` next to the control whose data-field names it; the rest are left to the summary. */
export function showFieldErrors(form, errors) {
  clearFieldErrors(form);
  const unplaced = [];
  for (const error of errors) {
    const control = [...form.querySelectorAll("[data-field]")].find((el) => el.dataset.field === error.field);
    if (!control) {
      unplaced.push(error);
      continue;
    }
    const id = `err-${Math.random().toString(36).slice(2, 10)}`;
    const note = h("span", { class: "field-error", id, "data-testid": "field-error", "data-for": error.field }, error.message);
    if (control.matches("input, select, textarea")) {
      control.setAttribute("aria-invalid", "true");
      control.setAttribute("aria-describedby", [control.getAttribute("aria-describedby"), id].filter(Boolean).join(" "));
      control.after(note);
    } else {
      control.append(note);
    }
  }
  const first = form.querySelector("[aria-invalid='true']");
  if (first) first.focus();
  return unplaced;
}

export function clearFieldErrors(form) {
  for (const note of form.querySelectorAll(".field-error")) {
    const control = form.querySelector(`[aria-describedby~="${note.id}"]`);
    if (control) {
      const rest = control.getAttribute("aria-describedby").split(" ").filter((id) => id !== note.id);
      if (rest.length) control.setAttribute("aria-describedby", rest.join(" "));
      else control.removeAttribute("aria-describedby");
      control.removeAttribute("aria-invalid");
    }
    note.remove();
  }
}

// ---- dialogs -------------------------------------------------------------------------------------------------------

let dialogCount = 0;

/**
 * A modal <dialog> (Escape closes it) named by its title, with a messages area and buttons.
 * actions: [{label, onClick(ctx), primary, disabled, autofocus}]; ctx = {dialog, body, messages, close, run}.
 * `focus`: the content's control a keyboard user starts from (else the action marked autofocus, else Cancel).
 * `run(fn)` disables the buttons while `fn` runs and shows any problem it throws in the dialog.
 */
export function openDialog({ title, testid, content = [], actions = [], closeLabel = "Cancel", wide = false, focus = null }) {
  const titleId = `dialog-title-${++dialogCount}`;
  const messages = h("div", { class: "messages", "data-testid": "dialog-messages" });
  const body = h("div", { class: "dialog-body" }, content);
  const buttons = h("div", { class: "buttons" });
  const dialog = h("dialog", { "aria-labelledby": titleId, "data-testid": testid, class: wide ? "wide" : null }, h("h2", { id: titleId }, title), messages, body, buttons);
  const ctx = { dialog, body, messages, buttons, close: () => dialog.close() };
  ctx.run = async (fn) => {
    const all = [...buttons.querySelectorAll("button")];
    const was = all.map((b) => b.disabled);
    all.forEach((b) => (b.disabled = true));
    dialog.setAttribute("aria-busy", "true");
    try {
      return await fn();
    } catch (error) {
      showProblem(messages, error);
      return undefined;
    } finally {
      dialog.removeAttribute("aria-busy");
      all.forEach((b, i) => (b.disabled = was[i]));
    }
  };
  for (const action of actions) {
    const button = h("button", { type: "button", class: action.primary ? "primary" : null, disabled: action.disabled, autofocus: action.autofocus }, action.label);
    button.addEventListener("click", () => action.onClick(ctx, button));
    buttons.append(button);
  }
  if (focus) focus.autofocus = true;
  buttons.append(h("button", { type: "button", onclick: () => dialog.close(), autofocus: !focus && !actions.some((a) => a.autofocus) }, closeLabel));
  dialog.addEventListener("close", () => dialog.remove());
  document.body.append(dialog);
  dialog.showModal();
  return ctx;
}

/** A confirmation pop-up: resolves true when its confirm button is clicked, false on Cancel or Escape. */
export function confirmDialog({ title, text, confirmLabel = "Yes", cancelLabel = "Cancel", testid = "confirm-dialog", destructive = false }) {
  return new Promise((resolve) => {
    let confirmed = false;
    const ctx = openDialog({
      title,
      testid,
      content: (Array.isArray(text) ? text : [text]).map((line) => h("p", {}, line)),
      closeLabel: cancelLabel,
      actions: [
        {
          label: confirmLabel,
          primary: !destructive,
          autofocus: !destructive,
          onClick: (c) => {
            confirmed = true;
            c.close();
          },
        },
      ],
    });
    ctx.dialog.addEventListener("close", () => resolve(confirmed));
  });
}

// ---- paging --------------------------------------------------------------------------------------------------------

/**
 * Previous / Next over the API's opaque cursors. `fetchPage(cursor, signal)` reads one page ({items, nextCursor}, or
 * throws); `render(page)` shows it. Only the latest request's answer is shown (see `Latest`): an older one that
 * arrives later (the tab's first page after a filtered search, the first of two paging clicks) is dropped, and the
 * page number and cursors change only when a page is shown.
 */
export class Pager {
  constructor(nav, { fetchPage, render }, label, onError) {
    this.fetchPage = fetchPage;
    this.render = render;
    this.onError = onError;
    this.latest = new Latest();
    this.cursors = [null];
    this.nextCursor = null;
    this.previous = h("button", { type: "button", onclick: () => this.go(-1) }, "Previous page");
    this.next = h("button", { type: "button", onclick: () => this.go(1) }, "Next page");
    this.label = h("span", { class: "page-number", "aria-live": "polite" });
    nav.setAttribute("aria-label", `${label} pages`);
    nav.replaceChildren(this.previous, this.label, this.next);
    this.update();
  }

  /** The first page (filters changed, tab shown). Resolves false when a newer request replaced this one. */
  async first() {
    return this.show([null]);
  }

  /** The page shown, read again (after an action changed a row). */
  async reload() {
    return this.show(this.cursors);
  }

  async go(step) {
    let cursors;
    if (step > 0 && this.nextCursor) cursors = [...this.cursors, this.nextCursor];
    else if (step < 0 && this.cursors.length > 1) cursors = this.cursors.slice(0, -1);
    else return;
    try {
      await this.show(cursors);
    } catch (error) {
      this.onError(error);
    }
  }

  /** Forget any request in flight (its answer will not be shown). */
  cancel() {
    this.latest.cancel();
  }

  async show(cursors) {
    const { signal, current } = this.latest.begin();
    let page;
    try {
      page = await this.fetchPage(cursors[cursors.length - 1], signal);
    } catch (error) {
      if (!current() || isAbort(error)) return false;
      throw error;
    }
    if (!current()) return false;
    this.cursors = cursors;
    this.nextCursor = page.nextCursor;
    this.render(page);
    this.update();
    return true;
  }

  update() {
    this.previous.disabled = this.cursors.length <= 1;
    this.next.disabled = !this.nextCursor;
    this.label.textContent = `Page ${this.cursors.length}`;
  }
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
