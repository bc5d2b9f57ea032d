// Loaded before the console's modules, as a plain script: if a module cannot be loaded or the start throws before the
// screens are shown, say so on the page (as the problem's title and detail) instead of "Starting the console…" forever.
// Once the screens are shown, js/app.js shows uncaught errors itself (in the app's messages).
(function () {
  "use strict";

  function startFailed(title, detail) {
    var main = document.getElementById("main");
    if (main && !main.hidden) return; // started: app.js shows it
    var area = document.getElementById("starting");
    if (!area) return;
    var box = document.createElement("div");
    box.className = "message error";
    box.setAttribute("role", "alert");
    box.setAttribute("data-testid", "start-failed");
    var strong = document.createElement("strong");
    strong.className = "problem-title";
    strong.textContent = title;
    var span = document.createElement("span");
    span.className = "problem-detail";
    span.textContent = " " + detail;
    box.append(strong, span);
    area.removeAttribute("role");
    area.replaceChildren(box);
  }

  // Capture: a <script> that fails to load fires "error" on itself, which does not bubble.
  window.addEventListener(
    "error",
    function (event) {
      var target = event.target;
      if (target && target.tagName === "SCRIPT") {
        startFailed("The console did not start", "Its script " + (target.src || "") + " (or a module it imports) could not be loaded. Is the local stack running? Reload the page to try again.");
      } else if (event.error || event.message) {
        var error = event.error;
        startFailed("The console did not start", String(error && error.message ? error.message : event.message));
      }
    },
    true,
  );
  window.addEventListener("unhandledrejection", function (event) {
    var reason = event.reason;
    startFailed("The console did not start", String(reason && reason.message ? reason.message : reason));
  });
})();
