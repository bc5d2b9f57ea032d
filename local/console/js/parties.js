// The Customers and Vendors tabs: one implementation, driven by a two-row table (the API's routes and the guide's
// words differ only in names). Filters, paging, Sync with QB (pick or Create), View Info, Unsync, Bulk Change.

import { wireListTab } from "./bulk.js";
import {
  Latest,
  Problem,
  api,
  clearProblems,
  confirmDialog,
  definitionList,
  fillRows,
  h,
  isAbort,
  openDialog,
  pathId,
  query,
  showBusy,
  showProblem,
  showStatus,
  when,
} from "./core.js";

export const PARTY_KINDS = {
  customers: {
    tab: "Customers",
    route: "customers",
    idKey: "clientId",
    qbIdKey: "qbCustomerId",
    filterKey: "client",
    who: "Client",
    qbColumn: "QuickBooks CustomerID",
    pickerRoute: "qb-customers",
    pickerLabel: "QuickBooks Customer",
    linkedKey: "linkedClientId",
    createLabel: "Create QB Customer",
    bulkAction: "Create and sync Customer",
    bulkKey: "clientIds",
    infoKey: "client",
    qbInfoKey: "qbCustomer",
    qbNoun: "customer",
    ownNoun: "clients",
  },
  vendors: {
    tab: "Vendors",
    route: "vendors",
    idKey: "vendorId",
    qbIdKey: "qbVendorId",
    filterKey: "vendor",
    who: "Vendor",
    qbColumn: "QuickBooks VendorID",
    pickerRoute: "qb-vendors",
    pickerLabel: "QuickBooks Vendor",
    linkedKey: "linkedVendorId",
    createLabel: "Create QB Vendor",
    bulkAction: "Create and sync Vendor",
    bulkKey: "vendorIds",
    infoKey: "vendor",
    qbInfoKey: "qbVendor",
    qbNoun: "vendor",
    ownNoun: "vendors",
  },
};

const PAGE_SIZE = 25;
const STATUS_TEXT = { synced: "Synced", unsynced: "Unsynced", deleted_in_qb: "Deleted in QuickBooks" };

/** The tab of one party kind: {mount(panel), refresh()}. */
export function partiesTab(name) {
  const kind = PARTY_KINDS[name];
  let panel, messages, filters, tbody, pager, bulk;

  function mount(element) {
    panel = element;
    panel.innerHTML = `
      <div class="messages" data-testid="${kind.route}-messages"></div>
      <form class="filters" data-testid="${kind.route}-filters" aria-label="${kind.tab} filters">
        <label>${kind.who} <input type="search" name="${kind.filterKey}" maxlength="128" placeholder="Name or ID"></label>
        <label>Status <select name="status"><option value="">All</option><option value="synced">Synced</option><option value="unsynced">Unsynced</option></select></label>
        <label>Email <input type="search" name="email" maxlength="254"></label>
        <button type="submit">Search</button>
        <button type="reset">Clear filters</button>
      </form>
      <div class="toolbar" data-testid="${kind.route}-bulk"></div>
      <div class="job-area" data-testid="${kind.route}-job"></div>
      <table class="grid" data-testid="${kind.route}-table">
        <caption class="visually-hidden">${kind.tab}</caption>
        <thead><tr>
          <th scope="col" class="select-col" hidden>Select</th>
          <th scope="col">${kind.who}</th><th scope="col">Email</th><th scope="col">${kind.qbColumn}</th>
          <th scope="col">Synced At</th><th scope="col">Actions</th>
        </tr></thead>
        <tbody></tbody>
      </table>
      <nav class="pager"></nav>`;
    ({ messages, filters, tbody, pager, bulk } = wireListTab(panel, {
      title: kind.tab,
      fetchPage,
      render,
      refresh,
      bulk: {
        noun: kind.ownNoun,
        actionLabel: kind.bulkAction,
        confirmTitle: kind.bulkAction,
        confirmText: (n) => [
          `This action will create ${kind.qbNoun}s on the QuickBooks service and sync them with the ${n} selected ${kind.ownNoun} in Books360.`,
          `${kind.tab} already synced are skipped.`,
        ],
        route: kind.route,
        bodyKey: kind.bulkKey,
      },
      afterJob: () => pager.reload().catch((error) => showProblem(messages, error)),
    }));
  }

  async function refresh() {
    try {
      await pager.first();
    } catch (error) {
      showProblem(messages, error);
    }
  }

  function fetchPage(cursor, signal) {
    const form = new FormData(filters);
    const params = { [kind.filterKey]: form.get(kind.filterKey), status: form.get("status"), email: form.get("email") };
    return api("GET", `/quickbooks/${kind.route}${query({ ...params, limit: PAGE_SIZE, cursor })}`, undefined, { signal });
  }

  function render(page) {
    clearProblems(messages);
    fillRows(tbody, page.items.map(row), `No ${kind.ownNoun} match these filters.`);
    bulk.update();
  }

  function row(item) {
    const id = item[kind.idKey];
    const actions = h("td", { class: "actions" });
    if (item.status === "unsynced") actions.append(h("button", { type: "button", onclick: () => syncDialog(item) }, "Sync with QB"));
    actions.append(h("button", { type: "button", onclick: () => viewInfo(item) }, "View Info"));
    if (item.status !== "unsynced") actions.append(h("button", { type: "button", onclick: () => unsync(item) }, "Unsync"));
    return h(
      "tr",
      { "data-id": id, "data-status": item.status },
      bulk.cell(id, item.name),
      h("th", { scope: "row" }, h("span", { class: "name" }, item.name), h("span", { class: "id" }, id)),
      h("td", {}, item.email || h("span", { class: "badge warn", title: "Invoices of this one cannot be synced" }, "Email missing")),
      h(
        "td",
        {},
        item[kind.qbIdKey] || "",
        item.status === "deleted_in_qb" ? h("span", { class: "badge error" }, STATUS_TEXT.deleted_in_qb) : null,
      ),
      h("td", {}, when(item.syncedAt)),
      actions,
    );
  }

  function syncDialog(item) {
    const id = item[kind.idKey];
    const search = h("input", { type: "search", id: `${kind.route}-picker-search`, maxlength: 100 });
    const picker = h("select", { id: `${kind.route}-picker`, "data-field": kind.qbIdKey });
    const pickerNote = h("p", { class: "hint" });
    const ctx = openDialog({
      title: "Sync with QB",
      testid: `${kind.route}-sync-dialog`,
      focus: search,
      content: [
        h("p", {}, `${kind.who}: `, h("strong", {}, item.name), ` (${id})`),
        h("div", { class: "fields" }, h("label", { for: search.id }, "Search"), search, h("label", { for: picker.id }, kind.pickerLabel), picker),
        pickerNote,
        h("p", { class: "hint" }, `Or click “${kind.createLabel}” to create a new QuickBooks ${kind.qbNoun} for this one.`),
      ],
      actions: [
        { label: "Sync", primary: true, onClick: (c) => c.run(() => link(c, { [kind.qbIdKey]: picker.value })) },
        { label: kind.createLabel, onClick: (c) => c.run(() => link(c, { create: true })) },
      ],
    });

    // Typing fires a search per pause: only the last one's answer fills the picker.
    const latestPicker = new Latest();
    ctx.dialog.addEventListener("close", () => latestPicker.cancel());

    async function loadPicker(preselect) {
      const { signal, current } = latestPicker.begin();
      try {
        const answer = await api("GET", `/quickbooks/${kind.pickerRoute}${query({ search: search.value.trim(), limit: 100 })}`, undefined, { signal });
        if (!current()) return;
        picker.replaceChildren(
          h("option", { value: "" }, `Select a QuickBooks ${kind.qbNoun}`),
          ...answer.items.map((qb) => {
            const taken = qb[kind.linkedKey] && qb[kind.linkedKey] !== id;
            const notes = [!qb.active ? "inactive" : null, taken ? `synced with ${qb[kind.linkedKey]}` : null].filter(Boolean);
            const text = `${qb.displayName}${qb.email ? ` <${qb.email}>` : ""} · #${qb.id}${notes.length ? ` (${notes.join(", ")})` : ""}`;
            return h("option", { value: qb.id, disabled: !qb.active || taken }, text);
          }),
        );
        if (preselect) picker.value = preselect;
        pickerNote.textContent = `${answer.items.length} QuickBooks ${kind.qbNoun}s${answer.items.length >= 100 ? " (the first 100: search to narrow)" : ""}.`;
      } catch (error) {
        if (!current() || isAbort(error)) return;
        showProblem(ctx.messages, error);
      }
    }

    async function link(c, body) {
      if (!body.create && !body[kind.qbIdKey]) {
        const detail = `Select one in the “${kind.pickerLabel}” field, or click “${kind.createLabel}”.`;
        showProblem(c.messages, new Problem({ title: `No ${kind.pickerLabel} selected`, status: 0, detail }));
        picker.focus();
        return;
      }
      try {
        const answer = await api("POST", `/quickbooks/${kind.route}/${pathId(id)}/sync`, body);
        c.close();
        showStatus(
          messages,
          answer.created
            ? `QuickBooks ${kind.qbNoun} ${answer[kind.qbIdKey]} “${answer.displayName}” was created and synced with ${item.name}.`
            : `${item.name} is synced with QuickBooks ${kind.qbNoun} ${answer[kind.qbIdKey]} “${answer.displayName}”.`,
        );
        await pager.reload();
      } catch (error) {
        const problem = showProblem(c.messages, error);
        // A name a QuickBooks one already has: the conflict names it, so it can be linked instead.
        if (problem[kind.qbIdKey]) await loadPicker(problem[kind.qbIdKey]);
      }
    }

    let timer;
    search.addEventListener("input", () => {
      clearTimeout(timer);
      timer = setTimeout(() => loadPicker(picker.value), 300);
    });
    loadPicker();
  }

  async function viewInfo(item) {
    const id = item[kind.idKey];
    const ctx = openDialog({ title: "View Info", testid: `${kind.route}-info-dialog`, closeLabel: "Close", wide: true });
    showBusy(ctx.messages, "Reading Books360 and QuickBooks…");
    let info;
    try {
      info = await api("GET", `/quickbooks/${kind.route}/${pathId(id)}`);
    } catch (error) {
      showProblem(ctx.messages, error);
      return;
    }
    ctx.messages.replaceChildren();
    const own = info[kind.infoKey];
    const qb = info[kind.qbInfoKey];
    const address = (a) => (a ? Object.values(a).filter(Boolean).join(", ") : "");
    ctx.body.replaceChildren(
      h("p", {}, `Status: ${STATUS_TEXT[info.status] || info.status}${info.syncedAt ? ` · Synced At ${when(info.syncedAt)}` : ""}`),
      h(
        "div",
        { class: "two-columns" },
        h(
          "section",
          { "aria-label": "Books360", "data-testid": "info-books360" },
          h("h3", {}, "Books360"),
          definitionList([
            ["ID", own[kind.idKey]],
            ["Name", own.name],
            ["Email", own.email || "(missing)"],
            ["Company", own.companyName],
            ["Phone", own.phone],
            own.billingAddress ? ["Billing address", address(own.billingAddress)] : null,
          ].filter(Boolean)),
        ),
        h(
          "section",
          { "aria-label": "QuickBooks", "data-testid": "info-quickbooks" },
          h("h3", {}, "QuickBooks"),
          qb
            ? definitionList([
                [kind.qbColumn, qb.Id],
                ["Display name", qb.DisplayName],
                ["Company", qb.CompanyName],
                ["Email", qb.PrimaryEmailAddr && qb.PrimaryEmailAddr.Address],
                ["Phone", qb.PrimaryPhone && qb.PrimaryPhone.FreeFormNumber],
                ["Billing address", address(qb.BillAddr)],
                ["Active", qb.Active === false ? "No" : "Yes"],
                ["Balance", qb.Balance !== undefined ? String(qb.Balance) : ""],
              ])
            : h("p", {}, `Not synced with a QuickBooks ${kind.qbNoun}.`),
          qb ? h("details", {}, h("summary", {}, "As QuickBooks returns it"), h("pre", {}, JSON.stringify(qb, null, 2))) : null,
        ),
      ),
    );
  }

  async function unsync(item) {
    const yes = await confirmDialog({
      title: "Unsync",
      text: [
        `Unbind ${item.name} from QuickBooks ${kind.qbNoun} ${item[kind.qbIdKey] || ""}?`,
        "Nothing is changed in QuickBooks.",
      ],
      confirmLabel: "Unsync",
      testid: `${kind.route}-unsync-dialog`,
      destructive: true,
    });
    if (!yes) return;
    try {
      await api("DELETE", `/quickbooks/${kind.route}/${pathId(item[kind.idKey])}/sync`);
      showStatus(messages, `${item.name} is unsynced from QuickBooks.`);
      await pager.reload();
    } catch (error) {
      showProblem(messages, error);
    }
  }

  /** Forget what was shown for the previous tenant (messages, the last job, the selection). */
  function reset() {
    pager.cancel();
    tbody.replaceChildren();
    messages.replaceChildren();
    panel.querySelector(".job-area").replaceChildren();
    bulk.toggle(false);
  }

  return { mount, refresh, reset };
}
