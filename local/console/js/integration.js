// The Integration tab: the QuickBooks row (Configure, Update Lists, Additional Settings), the connection setup
// (Active Enabled/Disabled + Save), the lists Update Lists loaded, and the Additional Settings pop-up.

import { Latest, api, confirmDialog, fillRows, h, isAbort, showBusy, showProblem, showStatus, when } from "./core.js";
import { openSettings } from "./settings.js";

const STATUS_TEXT = {
  not_connected: "Not connected",
  connecting: "Connecting (waiting for QuickBooks)",
  connected: "Connected",
  reauthorization_required: "Reauthorization required",
};
const REAUTHORIZE =
  "QuickBooks asks for a new authorization (the connection was revoked or has expired). Click “Configure”, select “Enabled” and click “Save” to reconnect.";

let panel;
let messages;
let connection = null;
// Only the latest read of each is shown (a tenant switch while the previous tenant's answers are on their way).
const latestConnection = new Latest();
const latestLists = new Latest();

export function mount(element) {
  panel = element;
  messages = panel.querySelector("#integration-messages");
  const setup = panel.querySelector("#connection-setup");
  panel.querySelector("#configure").addEventListener("click", () => {
    setup.hidden = false;
    panel.querySelector("#active").focus();
  });
  panel.querySelector("#connection-form").addEventListener("submit", (event) => {
    event.preventDefault();
    save(event.submitter || event.target.querySelector("button"));
  });
  panel.querySelector("#update-lists").addEventListener("click", updateLists);
  panel.querySelector("#additional-settings").addEventListener("click", () =>
    openSettings({
      saved: (text) => showStatus(messages, text),
      busy: (text) => showBusy(messages, text),
      problem: (error) => showProblem(messages, error),
      clear: () => messages.replaceChildren(),
    }),
  );
  // Back from the consent page (the front confirmed the ticket): the connection setup stays in view.
  if (panel.querySelector("#landing #message")) setup.hidden = false;
}

/** Forget what was shown for the previous tenant. */
export function reset() {
  messages.replaceChildren();
  panel.querySelector("#landing").replaceChildren();
}

/** Read the connection and the stored lists again (on showing the tab and after a tenant switch). */
export async function refresh() {
  await Promise.all([loadConnection(), loadLists()]);
}

async function loadConnection() {
  const { signal, current } = latestConnection.begin();
  let answer;
  try {
    answer = await api("GET", "/quickbooks/connection", undefined, { signal });
  } catch (error) {
    if (current() && !isAbort(error)) showProblem(messages, error);
    return;
  }
  if (!current()) return;
  connection = answer;
  panel.querySelector("#connection-active").textContent = connection.active ? "Enabled" : "Disabled";
  const status = panel.querySelector("#connection-status");
  status.textContent = STATUS_TEXT[connection.status] || connection.status;
  status.dataset.status = connection.status;
  panel.querySelector("#connection-company").textContent = connection.companyName
    ? `${connection.companyName} (realm ${connection.realmId})${connection.connectedAt ? `, since ${when(connection.connectedAt)}` : ""}`
    : "";
  panel.querySelector("#active").value = connection.active ? "true" : "false";
  const notice = panel.querySelector("[data-testid=reauthorization-required]");
  if (connection.status === "reauthorization_required" && !notice) {
    messages.prepend(h("p", { class: "message error", role: "alert", "data-testid": "reauthorization-required" }, REAUTHORIZE));
  } else if (connection.status !== "reauthorization_required" && notice) {
    notice.remove();
  }
}

async function save(button) {
  const active = panel.querySelector("#active").value === "true";
  button.disabled = true;
  showBusy(messages, active ? "Starting the connection to QuickBooks…" : "Disconnecting QuickBooks…");
  try {
    const answer = await api("PUT", "/quickbooks/connection", { active });
    if (active && answer.authorizeUrl) {
      showBusy(messages, "Going to QuickBooks…");
      window.location.assign(answer.authorizeUrl);
      return;
    }
    const done = active ? "QuickBooks is already connected." : "QuickBooks is disconnected. The links between Books360 and QuickBooks are kept.";
    showStatus(messages, answer.detail || done);
    panel.querySelector("#landing").replaceChildren();
    await loadConnection();
  } catch (error) {
    showProblem(messages, error);
  } finally {
    button.disabled = false;
  }
}

async function updateLists() {
  const yes = await confirmDialog({
    title: "Update Lists",
    text: "Update the Bank Accounts and Payment Methods directories from QuickBooks?",
    confirmLabel: "Yes",
    cancelLabel: "No",
    testid: "update-lists-dialog",
  });
  if (!yes) return;
  showBusy(messages, "Updating the lists from QuickBooks…");
  try {
    const answer = await api("POST", "/quickbooks/lists/refresh");
    showStatus(messages, `Lists updated: ${answer.bankAccounts} bank accounts and ${answer.paymentMethods} payment methods.`);
    await loadLists();
  } catch (error) {
    showProblem(messages, error);
    // A refusal may have changed the connection (QuickBooks revoked it: reauthorization required).
    await loadConnection();
  }
}

async function loadLists() {
  const { signal, current } = latestLists.begin();
  let lists;
  try {
    lists = await api("GET", "/quickbooks/lists", undefined, { signal });
  } catch (error) {
    if (current() && !isAbort(error)) showProblem(messages, error);
    return;
  }
  if (!current()) return;
  panel.querySelector("#lists-updated").textContent = lists.updatedAt
    ? `Updated ${when(lists.updatedAt)}.`
    : "Not updated yet: click “Update Lists”.";
  const yesNo = (flag) => (flag ? "Yes" : "No");
  fillRows(
    panel.querySelector("#bank-accounts-body"),
    lists.bankAccounts.map((a) =>
      h(
        "tr",
        { class: a.linkable ? "linkable" : "not-linkable", "data-linkable": String(a.linkable) },
        h("th", { scope: "row" }, a.name),
        h("td", {}, a.id),
        h("td", {}, a.accountType),
        h("td", {}, a.accountSubType || ""),
        h("td", {}, yesNo(a.active)),
        h("td", {}, a.linkable ? h("span", { class: "badge ok" }, "Yes") : "No"),
      ),
    ),
    "No bank accounts loaded.",
  );
  fillRows(
    panel.querySelector("#payment-methods-body"),
    lists.paymentMethods.map((m) =>
      h("tr", {}, h("th", { scope: "row" }, m.name), h("td", {}, m.id), h("td", {}, m.type || ""), h("td", {}, yesNo(m.active))),
    ),
    "No payment methods loaded.",
  );
}
