// The Invoices tab: filters (Client, Date range, Sync Status), paging, the Sync with QB pop-up with its preview,
// View QB Info with Delete (the manual unlink of an invoice deleted in QuickBooks), and Bulk Change.

import { wireListTab } from "./bulk.js";
import { api, clearProblems, fillRows, h, money, openDialog, pathId, query, showBusy, showProblem, showStatus, when } from "./core.js";

const PAGE_SIZE = 25;
const STATUS_TEXT = { paid: "Paid", not_paid: "Not paid", overdue: "Overdue" };
const SYNC_TEXT = { synced: "Synced", unsynced: "Unsynced", deleted_in_qb: "Deleted in QuickBooks", failed: "Sync failed" };
const ACTION_TEXT = { create: "Create", update: "Update", unchanged: "Unchanged", delete: "Delete", linked: "Linked" };

let panel, messages, filters, tbody, pager, bulk;

export function mount(element) {
  panel = element;
  panel.innerHTML = `
    <div class="messages" data-testid="invoices-messages"></div>
    <form class="filters" data-testid="invoices-filters" aria-label="Invoices filters">
      <label>Client <input type="search" name="client" maxlength="128" placeholder="Name or ID"></label>
      <fieldset class="date-range"><legend>Date</legend>
        <label>From <input type="date" name="dateFrom" aria-label="Date from"></label>
        <label>To <input type="date" name="dateTo" aria-label="Date to"></label>
      </fieldset>
      <label>Sync Status <select name="syncStatus">
        <option value="">All</option><option value="synced">Synced</option><option value="unsynced">Unsynced</option>
        <option value="deleted_in_qb">Deleted in QuickBooks</option><option value="failed">Sync failed</option>
      </select></label>
      <button type="submit">Search</button>
      <button type="reset">Clear filters</button>
    </form>
    <div class="toolbar" data-testid="invoices-bulk"></div>
    <div class="job-area" data-testid="invoices-job"></div>
    <table class="grid" data-testid="invoices-table">
      <caption class="visually-hidden">Invoices</caption>
      <thead><tr>
        <th scope="col" class="select-col" hidden>Select</th>
        <th scope="col">ID</th><th scope="col">Client</th><th scope="col">Number</th><th scope="col">Date</th>
        <th scope="col">Status</th><th scope="col" class="num">Amount</th><th scope="col" class="num">Paid/Due</th>
        <th scope="col">QuickBooks InvoiceID</th><th scope="col">Synced At</th><th scope="col">Actions</th>
      </tr></thead>
      <tbody></tbody>
    </table>
    <nav class="pager"></nav>`;
  ({ messages, filters, tbody, pager, bulk } = wireListTab(panel, {
    title: "Invoices",
    fetchPage,
    render,
    refresh,
    bulk: {
      noun: "invoices",
      actionLabel: "Sync invoice",
      confirmTitle: "Sync invoice",
      confirmText: (n) => [
        `Sync the ${n} selected invoices with QuickBooks?`,
        "Customers that are not synced yet are created in QuickBooks first.",
      ],
      route: "invoices",
      bodyKey: "invoiceIds",
    },
    afterJob: () => reload(),
  }));
}

/** Forget what was shown for the previous tenant (messages, the last job, the selection). */
export function reset() {
  pager.cancel();
  tbody.replaceChildren();
  messages.replaceChildren();
  panel.querySelector(".job-area").replaceChildren();
  bulk.toggle(false);
}

export async function refresh() {
  try {
    await pager.first();
  } catch (error) {
    showProblem(messages, error);
  }
}

async function reload() {
  try {
    await pager.reload();
  } catch (error) {
    showProblem(messages, error);
  }
}

function fetchPage(cursor, signal) {
  const form = new FormData(filters);
  const params = Object.fromEntries(["client", "dateFrom", "dateTo", "syncStatus"].map((name) => [name, form.get(name)]));
  return api("GET", `/quickbooks/invoices${query({ ...params, limit: PAGE_SIZE, cursor })}`, undefined, { signal });
}

function render(page) {
  clearProblems(messages);
  fillRows(tbody, page.items.map(row), "No invoices match these filters.");
  bulk.update();
}

function row(invoice) {
  const label = `${invoice.number} (${invoice.clientName})`;
  const actions = h("td", { class: "actions" });
  if (invoice.syncStatus !== "deleted_in_qb") {
    actions.append(h("button", { type: "button", onclick: () => syncDialog(invoice) }, "Sync with QB"));
  }
  if (invoice.qbInvoiceIds.length || invoice.syncStatus === "deleted_in_qb") {
    actions.append(h("button", { type: "button", onclick: () => viewQbInfo(invoice) }, "View QB Info"));
  }
  const sync = [];
  if (invoice.syncStatus === "deleted_in_qb" || invoice.syncStatus === "failed") {
    sync.push(h("span", { class: "badge error", "data-testid": "sync-status" }, SYNC_TEXT[invoice.syncStatus]));
  }
  if (invoice.lastError) sync.push(h("span", { class: "last-error" }, invoice.lastError));
  return h(
    "tr",
    { "data-id": invoice.invoiceId, "data-sync-status": invoice.syncStatus },
    bulk.cell(invoice.invoiceId, label),
    h("th", { scope: "row", class: "nowrap" }, invoice.invoiceId),
    h("td", {}, h("span", { class: "name" }, invoice.clientName), h("span", { class: "id" }, invoice.clientId)),
    h("td", { class: "nowrap" }, invoice.number),
    h("td", { class: "nowrap" }, invoice.date),
    h("td", {}, h("span", { class: `badge ${invoice.status}` }, STATUS_TEXT[invoice.status] || invoice.status)),
    h("td", { class: "num" }, money(invoice.amount)),
    h("td", { class: "num" }, `${money(invoice.paid)} / ${money(invoice.due)}`),
    h("td", {}, invoice.qbInvoiceIds.join(", "), sync),
    h("td", {}, when(invoice.syncedAt)),
    actions,
  );
}

function table(caption, columns, rows, testid) {
  return h(
    "table",
    { class: "grid compact", "data-testid": testid },
    h("caption", {}, caption),
    h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col" }, c)))),
    h("tbody", {}, rows.length ? rows : h("tr", { class: "empty" }, h("td", { colspan: columns.length }, "None"))),
  );
}

async function syncDialog(invoice) {
  const ctx = openDialog({
    title: "Sync with QB",
    testid: "invoice-sync-dialog",
    wide: true,
    actions: [{ label: "Sync", primary: true, disabled: true, onClick: (c) => c.run(() => sync(c)) }],
  });
  const syncButton = ctx.buttons.querySelector("button.primary");
  showBusy(ctx.messages, "Preparing the preview…");
  let preview;
  try {
    preview = await api("GET", `/quickbooks/invoices/${pathId(invoice.invoiceId)}/sync-preview`);
  } catch (error) {
    showProblem(ctx.messages, error);
    return;
  }
  ctx.messages.replaceChildren();
  const customer = preview.customer;
  const parts = [
    h("p", {}, `Invoice ${invoice.number} of ${invoice.clientName}: ${STATUS_TEXT[invoice.status]}, amount ${money(invoice.amount)}.`),
    h(
      "section",
      { "aria-label": "Customer", "data-testid": "preview-customer", "data-action": customer.action },
      h("h3", {}, "Customer"),
      customer.action === "create"
        ? h("p", {}, `A new QuickBooks customer “${customer.displayName}” will be created for ${customer.clientId} and synced.`)
        : h("p", {}, `${customer.displayName} (${customer.clientId}) is synced with QuickBooks customer ${customer.qbCustomerId}.`),
    ),
    table(
      "Documents",
      ["Doc Number", "Date", "Due Date", "Amount", "Lines", "QuickBooks InvoiceID", "Action"],
      preview.documents.map((d) =>
        h(
          "tr",
          {},
          h("td", {}, d.docNumber),
          h("td", {}, d.txnDate),
          h("td", {}, d.dueDate || ""),
          h("td", { class: "num" }, money(d.amount)),
          h(
            "td",
            {},
            h(
              "details",
              {},
              h("summary", {}, `${d.lines.length} line${d.lines.length === 1 ? "" : "s"}`),
              h("ul", {}, d.lines.map((l) => h("li", {}, `${l.serviceDate || ""} ${l.description}: ${money(l.amount)}`))),
              d.customFields.length ? h("p", {}, `Custom fields: ${d.customFields.map((f) => `${f.name} = ${f.value}`).join(", ")}`) : null,
            ),
          ),
          h("td", {}, d.qbInvoiceId || ""),
          h("td", {}, ACTION_TEXT[d.action] || d.action),
        ),
      ),
      "preview-documents",
    ),
    table(
      "Payments",
      ["Payment", "Amount", "Bank Account", "Payment Method", "QuickBooks PaymentID", "Action"],
      preview.payments.map((p) =>
        h(
          "tr",
          {},
          h("td", {}, p.paymentId),
          h("td", { class: "num" }, money(p.amount)),
          h("td", {}, p.bankAccountId || "(Undeposited Funds)"),
          h("td", {}, p.paymentMethodId || ""),
          h("td", {}, p.qbPaymentId || ""),
          h("td", {}, ACTION_TEXT[p.action] || p.action),
        ),
      ),
      "preview-payments",
    ),
    preview.unmappedCustomFields.length
      ? h("p", { class: "hint" }, `Custom fields with no QuickBooks field of the same name (not written): ${preview.unmappedCustomFields.join(", ")}`)
      : null,
    preview.problems.length
      ? h(
          "div",
          { class: "message error", role: "alert", "data-testid": "preview-problems" },
          h("strong", {}, "This invoice cannot be synced yet:"),
          h("ul", {}, preview.problems.map((p) => h("li", {}, h("code", {}, p.field), `: ${p.message}`))),
        )
      : null,
  ];
  ctx.body.replaceChildren(...parts.filter(Boolean));
  syncButton.disabled = preview.problems.length > 0;
  if (!syncButton.disabled) syncButton.focus();

  async function sync(c) {
    const answer = await api("POST", `/quickbooks/invoices/${pathId(invoice.invoiceId)}/sync`);
    c.close();
    const parts = [`Invoice ${invoice.number} is synced: QuickBooks invoice ${answer.qbInvoiceIds.join(", ")}`];
    if (answer.qbPaymentIds.length) parts.push(`payments ${answer.qbPaymentIds.join(", ")}`);
    showStatus(messages, `${parts.join("; ")}.${answer.customerCreated ? " A QuickBooks customer was created." : ""}`);
    await reload();
  }
}

async function viewQbInfo(invoice) {
  const ctx = openDialog({ title: "View QB Info", testid: "invoice-qb-dialog", closeLabel: "Close", wide: true });
  showBusy(ctx.messages, "Reading QuickBooks…");
  let view;
  try {
    view = await api("GET", `/quickbooks/invoices/${pathId(invoice.invoiceId)}/qb`);
  } catch (error) {
    showProblem(ctx.messages, error);
    return;
  }
  ctx.messages.replaceChildren();
  const deleted = (o) => o.deleted === true;
  const gone = invoice.syncStatus === "deleted_in_qb" || view.invoices.some(deleted);
  ctx.body.replaceChildren(
    h("p", {}, `Invoice ${invoice.number} of ${invoice.clientName}`, invoice.syncedAt ? ` · Synced At ${when(invoice.syncedAt)}` : ""),
    table(
      "QuickBooks invoices",
      ["QuickBooks InvoiceID", "Doc Number", "Date", "Due Date", "Total", "Balance", "State"],
      view.invoices.map((qb) =>
        deleted(qb)
          ? h("tr", { class: "deleted" }, h("td", {}, qb.id), h("td", { colspan: 5 }, ""), h("td", {}, h("span", { class: "badge error" }, "Deleted in QuickBooks")))
          : h(
              "tr",
              {},
              h("td", {}, qb.Id),
              h("td", {}, qb.DocNumber || ""),
              h("td", {}, qb.TxnDate || ""),
              h("td", {}, qb.DueDate || ""),
              h("td", { class: "num" }, String(qb.TotalAmt ?? "")),
              h("td", { class: "num" }, String(qb.Balance ?? "")),
              h("td", {}, Number(qb.Balance) === 0 ? "Paid" : "Open"),
            ),
      ),
      "qb-invoices",
    ),
    table(
      "QuickBooks payments",
      ["QuickBooks PaymentID", "Date", "Amount", "State"],
      view.payments.map((qb) =>
        deleted(qb)
          ? h("tr", { class: "deleted" }, h("td", {}, qb.id), h("td", {}, ""), h("td", {}, ""), h("td", {}, "Deleted in QuickBooks"))
          : h("tr", {}, h("td", {}, qb.Id), h("td", {}, qb.TxnDate || ""), h("td", { class: "num" }, String(qb.TotalAmt ?? "")), h("td", {}, "")),
      ),
      "qb-payments",
    ),
    h("details", {}, h("summary", {}, "As QuickBooks returns them"), h("pre", {}, JSON.stringify(view, null, 2))),
  );
  if (!gone) return;
  ctx.body.prepend(
    h(
      "p",
      { class: "message error", role: "alert", "data-testid": "deleted-in-qb" },
      "This invoice was deleted in QuickBooks. Click “Delete” to unlink it in Books360 (it becomes unsynced and can be synced again).",
    ),
  );
  const remove = h("button", { type: "button", class: "danger" }, "Delete");
  remove.addEventListener("click", () =>
    ctx.run(async () => {
      await api("DELETE", `/quickbooks/invoices/${pathId(invoice.invoiceId)}/qb-link`);
      ctx.close();
      showStatus(messages, `Invoice ${invoice.number} is unlinked from QuickBooks: it is unsynced again.`);
      await reload();
    }),
  );
  ctx.buttons.prepend(remove);
}
