// The console's start: sign in (the token kept in localStorage, else the demo tenant's), the tenant switcher, the
// tabs (Integration, Customers, Vendors, Invoices; arrow keys move between them), and the landing after the connect.

import { onTenantChange, restoreSession, session, showProblem, showStatus, signIn } from "./core.js";
import * as integration from "./integration.js";
import * as invoices from "./invoices.js";
import { partiesTab } from "./parties.js";

const TABS = {
  integration,
  customers: partiesTab("customers"),
  vendors: partiesTab("vendors"),
  invoices,
};
const loaded = new Set();
const appMessages = document.querySelector("#app-messages");

function tabButtons() {
  return [...document.querySelectorAll("[role=tab]")];
}

/** Show one tab (and load it the first time, or again after a tenant switch). */
async function select(name, { focus = false } = {}) {
  for (const button of tabButtons()) {
    const on = button.id === `tab-${name}`;
    button.setAttribute("aria-selected", String(on));
    button.tabIndex = on ? 0 : -1;
    document.getElementById(button.getAttribute("aria-controls")).hidden = !on;
    if (on && focus) button.focus();
  }
  if (location.hash !== `#${name}`) history.replaceState(null, "", `${location.pathname}${location.search}#${name}`);
  if (!loaded.has(name)) {
    loaded.add(name);
    await TABS[name].refresh();
  }
}

function setUpTabs() {
  for (const [name, tab] of Object.entries(TABS)) tab.mount(document.getElementById(`panel-${name}`));
  const buttons = tabButtons();
  buttons.forEach((button, index) => {
    const name = button.id.replace("tab-", "");
    button.addEventListener("click", () => select(name));
    button.addEventListener("keydown", (event) => {
      const step = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
      let target = null;
      if (step) target = buttons[(index + step + buttons.length) % buttons.length];
      else if (event.key === "Home") target = buttons[0];
      else if (event.key === "End") target = buttons[buttons.length - 1];
      if (!target) return;
      event.preventDefault();
      select(target.id.replace("tab-", ""), { focus: true });
    });
  });
}

function setUpTenantSwitcher() {
  const form = document.querySelector("#tenant-form");
  const input = form.querySelector("#tenant-id");
  const current = form.querySelector("#tenant-current");
  const show = (tenantId) => {
    input.value = tenantId;
    current.textContent = `Signed in as tenant “${tenantId}”`;
  };
  onTenantChange(show);
  if (session.tenantId) show(session.tenantId);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const tenantId = input.value.trim();
    if (!tenantId) return;
    try {
      await signIn(tenantId);
    } catch (error) {
      showProblem(appMessages, error);
      return;
    }
    showStatus(appMessages, `Now working as tenant “${tenantId}”: every screen shows this tenant's data only.`);
    for (const tab of Object.values(TABS)) tab.reset();
    // Every tab reads its data again under the new token; the visible one now, the others when shown.
    loaded.clear();
    const visible = tabButtons().find((b) => b.getAttribute("aria-selected") === "true");
    await select(visible.id.replace("tab-", ""));
  });
}

async function start() {
  try {
    await restoreSession();
  } catch (error) {
    showProblem(appMessages, error);
  }
  setUpTabs();
  setUpTenantSwitcher();
  const landed = new URLSearchParams(location.search).has("result");
  const wanted = location.hash.slice(1);
  const first = select(!landed && wanted in TABS ? wanted : "integration");
  document.querySelector("#starting").remove();
  document.querySelector("#main").hidden = false;
  document.querySelector("#tenant-form").hidden = false;
  document.body.dataset.ready = "true";
  await first;
  // The landing's message stays on screen; the address loses the query so a reload does not repeat it.
  if (landed) history.replaceState(null, "", `${location.pathname}#integration`);
}

window.addEventListener("unhandledrejection", (event) => showProblem(appMessages, event.reason));
window.addEventListener("error", (event) => showProblem(appMessages, event.error || event.message));
start();
