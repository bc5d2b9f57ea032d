// "Bulk Change": check boxes capped at 30, a confirmation, then a progress bar fed by GET /quickbooks/jobs/{jobId}
// until the job is done, then each failed (or skipped) item with its reason. Shared by Customers, Vendors, Invoices.

import { BULK_LIMIT, Pager, api, confirmDialog, h, pathId, session, showBusy, showProblem, sleep } from "./core.js";

const POLL_MS = 700;
const RUNNING = new Set(["queued", "running"]);

/**
 * The bulk toolbar of one tab. options: {noun, actionLabel, confirmTitle, confirmText(n), route, bodyKey, nameOf(id)};
 * `onFinish()` reloads the tab's list when a job is done.
 */
export class Bulk {
  constructor(toolbar, jobArea, options, onFinish) {
    this.options = options;
    this.jobArea = jobArea;
    this.onFinish = onFinish;
    this.active = false;
    this.selected = new Map();
    this.toggleButton = h("button", { type: "button", "aria-pressed": "false", onclick: () => this.toggle() }, "Bulk Change");
    this.count = h("span", { class: "bulk-count", role: "status", hidden: true, "data-testid": "bulk-count" });
    this.go = h("button", { type: "button", class: "primary", hidden: true, disabled: true, onclick: () => this.start() }, options.actionLabel);
    this.cancel = h("button", { type: "button", hidden: true, onclick: () => this.toggle(false) }, "Cancel");
    toolbar.replaceChildren(this.toggleButton, this.go, this.cancel, this.count);
    this.table = null;
  }

  /** Bulk mode on or off: the Select column and the action button show only while it is on. */
  toggle(on = !this.active) {
    this.active = on;
    this.toggleButton.setAttribute("aria-pressed", String(on));
    this.go.hidden = this.cancel.hidden = this.count.hidden = !on;
    if (!on) this.selected.clear();
    if (this.table) for (const cell of this.table.querySelectorAll(".select-col")) cell.hidden = !on;
    this.update();
  }

  /** The Select cell of one row (its check box is named "Select <name>"). */
  cell(id, name, selectable = true) {
    const box = h("input", { type: "checkbox", "aria-label": `Select ${name}`, "data-id": id, disabled: !selectable, "data-unselectable": !selectable });
    box.checked = this.selected.has(id);
    box.addEventListener("change", () => {
      if (box.checked) this.selected.set(id, name);
      else this.selected.delete(id);
      this.update();
    });
    return h("td", { class: "select-col", hidden: !this.active }, box);
  }

  attach(table) {
    this.table = table;
    this.update();
  }

  update() {
    const n = this.selected.size;
    const full = n >= BULK_LIMIT;
    this.count.textContent = `${n} selected (limit ${BULK_LIMIT})${full ? ": the limit is reached" : ""}`;
    this.go.disabled = n === 0;
    if (!this.table) return;
    for (const box of this.table.querySelectorAll(".select-col input[type=checkbox]")) {
      if (box.dataset.id === undefined) continue;
      box.checked = this.selected.has(box.dataset.id);
      if (!box.hasAttribute("data-unselectable")) box.disabled = full && !box.checked;
    }
  }

  async start() {
    const ids = [...this.selected.keys()];
    const yes = await confirmDialog({
      title: this.options.confirmTitle,
      text: this.options.confirmText(ids.length),
      confirmLabel: "Confirm",
      testid: "bulk-confirm-dialog",
    });
    if (!yes) return;
    showBusy(this.jobArea, `Starting: ${ids.length} ${this.options.noun}…`);
    let accepted;
    try {
      accepted = await api("POST", `/quickbooks/${this.options.route}/bulk-sync`, { [this.options.bodyKey]: ids });
    } catch (error) {
      showProblem(this.jobArea, error);
      return;
    }
    const names = new Map(this.selected);
    this.toggle(false);
    if (await this.follow(accepted, names)) this.onFinish();
  }

  /**
   * The progress bar and its counts, polled until the job is no longer queued or running (true), or until the
   * console switches tenant (false: the job is the other tenant's, so its progress leaves the screen; it runs on).
   */
  async follow(accepted, names) {
    const tenantId = session.tenantId;
    const switched = () => session.tenantId !== tenantId;
    const bar = h("progress", { max: accepted.total, value: 0, "aria-label": "Bulk change progress", "data-testid": "bulk-progress-bar" });
    const line = h("p", { role: "status", class: "job-line", "data-testid": "bulk-progress-text" }, `0 of ${accepted.total} done`);
    const problems = h("div", { class: "messages" });
    const box = h("div", { class: "job", "data-testid": "bulk-progress", "data-job-id": accepted.jobId, "data-status": "queued" }, bar, line, problems);
    this.jobArea.replaceChildren(box);
    // The button that started it is hidden now (bulk mode is off): a keyboard user's focus goes to the progress.
    if (!document.activeElement || document.activeElement === document.body) {
      box.tabIndex = -1;
      box.focus();
    }
    let failures = 0;
    for (;;) {
      if (switched()) {
        box.remove();
        return false;
      }
      let job;
      try {
        job = await api("GET", `/quickbooks/jobs/${pathId(accepted.jobId)}`);
        failures = 0;
      } catch (error) {
        if (switched()) continue;
        showProblem(problems, error);
        if (++failures >= 5) return true;
        await sleep(POLL_MS * 3);
        continue;
      }
      if (switched()) continue;
      problems.replaceChildren();
      const done = job.succeeded + job.failed + job.skipped;
      bar.max = job.total;
      bar.value = done;
      box.dataset.status = job.status;
      if (RUNNING.has(job.status)) {
        line.textContent = `${done} of ${job.total} done (${job.status})`;
        await sleep(POLL_MS);
        continue;
      }
      line.textContent = `Finished (${job.status.replace("_", " ")}): ${job.succeeded} succeeded, ${job.failed} failed, ${job.skipped} skipped of ${job.total}.`;
      const notDone = job.items.filter((item) => item.status === "failed" || item.status === "skipped");
      if (notDone.length) box.append(itemsTable(notDone, names));
      return true;
    }
  }
}

function itemsTable(items, names) {
  return h(
    "table",
    { class: "grid compact", "data-testid": "bulk-failures" },
    h("caption", {}, "Items not synced"),
    h("thead", {}, h("tr", {}, ["ID", "Name", "Result", "Reason"].map((c) => h("th", { scope: "col" }, c)))),
    h(
      "tbody",
      {},
      items.map((item) =>
        h(
          "tr",
          { class: item.status },
          h("td", {}, item.id),
          h("td", {}, names.get(item.id) || ""),
          h("td", {}, item.status === "failed" ? "Failed" : "Skipped"),
          h("td", {}, item.error || ""),
        ),
      ),
    ),
  );
}

/**
 * What every list tab (Customers, Vendors, Invoices) wires the same way: its messages, the filter form (search and
 * reset load the first page again through `refresh`), the rows, the pager over `fetchPage`/`render`, and the bulk
 * toolbar (`bulk`: Bulk's options; `afterJob` when a job is done).
 */
export function wireListTab(panel, { title, fetchPage, render, refresh, bulk: options, afterJob }) {
  const messages = panel.querySelector(".messages");
  const filters = panel.querySelector("form");
  const tbody = panel.querySelector("tbody");
  filters.addEventListener("submit", (event) => {
    event.preventDefault();
    refresh();
  });
  filters.addEventListener("reset", () => setTimeout(refresh));
  const pager = new Pager(panel.querySelector(".pager"), { fetchPage, render }, title, (error) => showProblem(messages, error));
  const bulk = new Bulk(panel.querySelector(".toolbar"), panel.querySelector(".job-area"), options, afterJob);
  bulk.attach(panel.querySelector("table"));
  return { messages, filters, tbody, pager, bulk };
}
