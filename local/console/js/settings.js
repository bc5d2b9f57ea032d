// The "Additional Settings" pop-up: every field of the settings document, the payment-method mapping table and the
// Default section; a 422's errors are shown next to the field they name (data-field = the problem's field path).

import { api, clearFieldErrors, clearMessages, h, showBusy, showFieldErrors, showProblem } from "./core.js";

const FLAGS = ["oneTransactionInvoice", "splitInvoice", "syncCustomFields", "autoCreateInvoices"];

let dialog;
let form;
let messages;
let lists = { bankAccounts: [], paymentMethods: [] };
let onSaved = () => {};

function setUp() {
  if (dialog) return;
  dialog = document.querySelector("#settings-dialog");
  form = dialog.querySelector("#settings-form");
  messages = form.querySelector(".messages");
  form.elements.oneTransactionInvoice.addEventListener("change", showDescription);
  form.querySelector("#add-mapping").addEventListener("click", () => {
    addMapping({ paymentSystem: "", brokerId: null, bankAccountId: null, paymentMethodId: null });
    renumber();
    form.querySelector("#mappings-body tr:last-child input").focus();
  });
  form.querySelector("[data-close]").addEventListener("click", () => dialog.close());
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    save();
  });
}

/** Open the pop-up with the stored settings and lists (read first, so nothing typed is overwritten by the load). */
export async function openSettings(status) {
  setUp();
  onSaved = status.saved;
  status.busy("Reading the settings…");
  let settings;
  try {
    [settings, lists] = await Promise.all([api("GET", "/quickbooks/settings"), api("GET", "/quickbooks/lists")]);
  } catch (error) {
    status.problem(error);
    return;
  }
  status.clear();
  clearMessages(messages);
  clearFieldErrors(form);
  form.querySelector("#mappings-body").replaceChildren();
  fill(settings);
  dialog.showModal();
}

function fill(settings) {
  for (const flag of FLAGS) form.elements[flag].value = settings[flag] ? "true" : "false";
  form.elements.oneTransactionDescription.value = settings.oneTransactionDescription || "";
  form.elements.invoiceDate.value = settings.invoiceDate;
  form.elements.itemType.value = settings.itemType;
  fillOptions(form.elements.defaultBankAccount, bankOptions(), settings.defaults.bankAccountId);
  fillOptions(form.elements.defaultPaymentMethod, methodOptions(), settings.defaults.paymentMethodId);
  for (const mapping of settings.paymentMethodMappings) addMapping(mapping);
  renumber();
  showDescription();
}

/** One Transaction Description is only there when One Transaction Invoice is Enabled. */
function showDescription() {
  const on = form.elements.oneTransactionInvoice.value === "true";
  for (const element of form.querySelectorAll("[data-otd]")) element.hidden = !on;
}

// Every stored account is offered; those QuickBooks payments cannot go to are marked, and the API says why on Save.
function bankOptions() {
  return lists.bankAccounts.map((a) => [a.id, `${a.name} (${a.accountType})${a.linkable ? "" : " — not linkable"}`]);
}

function methodOptions() {
  return lists.paymentMethods.map((m) => [m.id, m.name]);
}

function fillOptions(select, options, value) {
  const known = options.some(([id]) => id === value);
  select.replaceChildren(
    h("option", { value: "" }, "None"),
    ...options.map(([id, text]) => h("option", { value: id }, text)),
    // A stored id the lists no longer have stays selectable, so saving shows the API's own verdict on it.
    value && !known ? h("option", { value }, `${value} (not in the lists)`) : null,
  );
  select.value = value || "";
}

function addMapping(mapping) {
  const row = h("tr", { "data-mapping": "" });
  const system = h("input", { name: "paymentSystem", value: mapping.paymentSystem || "", required: true, maxlength: 64 });
  const broker = h("input", { name: "brokerId", value: mapping.brokerId || "", maxlength: 128, placeholder: "any" });
  const bank = h("select", { name: "bankAccountId" });
  const method = h("select", { name: "paymentMethodId" });
  fillOptions(bank, bankOptions(), mapping.bankAccountId);
  fillOptions(method, methodOptions(), mapping.paymentMethodId);
  const remove = h("button", { type: "button", class: "link" }, "Remove");
  remove.addEventListener("click", () => {
    row.remove();
    renumber();
  });
  row.append(h("td", {}, system), h("td", {}, broker), h("td", {}, bank), h("td", {}, method), h("td", { "data-row": "" }, remove));
  form.querySelector("#mappings-body").append(row);
}

/** Row n's controls are named "Payment System, row n" etc., and carry the API's path paymentMethodMappings[n-1].x. */
function renumber() {
  form.querySelectorAll("#mappings-body tr").forEach((row, index) => {
    for (const control of row.querySelectorAll("input, select")) {
      const label = { paymentSystem: "Payment System", brokerId: "Broker ID", bankAccountId: "Bank Account", paymentMethodId: "Payment Method" }[control.name];
      control.setAttribute("aria-label", `${label}, row ${index + 1}`);
      control.dataset.field = `paymentMethodMappings[${index}].${control.name}`;
    }
    row.querySelector("[data-row]").dataset.field = `paymentMethodMappings[${index}]`;
    row.querySelector("button").setAttribute("aria-label", `Remove mapping row ${index + 1}`);
  });
}

function collect() {
  const value = (name) => form.elements[name].value;
  return {
    oneTransactionInvoice: value("oneTransactionInvoice") === "true",
    oneTransactionDescription: value("oneTransactionDescription"),
    splitInvoice: value("splitInvoice") === "true",
    syncCustomFields: value("syncCustomFields") === "true",
    autoCreateInvoices: value("autoCreateInvoices") === "true",
    invoiceDate: value("invoiceDate"),
    itemType: value("itemType"),
    paymentMethodMappings: [...form.querySelectorAll("#mappings-body tr")].map((row) => {
      const field = (name) => row.querySelector(`[name="${name}"]`).value.trim();
      return {
        paymentSystem: field("paymentSystem"),
        brokerId: field("brokerId") || null,
        bankAccountId: field("bankAccountId") || null,
        paymentMethodId: field("paymentMethodId") || null,
      };
    }),
    defaults: { bankAccountId: value("defaultBankAccount") || null, paymentMethodId: value("defaultPaymentMethod") || null },
  };
}

async function save() {
  const buttons = [...form.querySelectorAll("button")];
  buttons.forEach((b) => (b.disabled = true));
  clearFieldErrors(form);
  showBusy(messages, "Saving…");
  try {
    await api("PUT", "/quickbooks/settings", collect());
    dialog.close();
    onSaved("Additional settings saved.");
  } catch (error) {
    const problem = showProblem(messages, error);
    // The description's field is hidden while One Transaction Invoice is off: show it so its error can be seen.
    if (problem.errors.some((e) => e.field === "oneTransactionDescription")) {
      for (const element of form.querySelectorAll("[data-otd]")) element.hidden = false;
    }
    showFieldErrors(form, problem.errors);
  } finally {
    buttons.forEach((b) => (b.disabled = false));
  }
}
