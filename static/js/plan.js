// The coverage planner (/plan): say that the server is working after "Show coverage",
// because an answer with many suggested sites can take several seconds.
(function () {
  "use strict";
  var form = document.getElementById("plan-form");
  if (!form) { return; }
  var busy = document.getElementById("plan-busy");
  var button = document.getElementById("plan-run");
  form.addEventListener("submit", function () {
    if (busy) { busy.textContent = form.dataset.msgBusy || ""; }
    if (button) { button.setAttribute("aria-disabled", "true"); button.classList.add("busy"); }
  });
  // Coming back with the browser's back button restores the page from cache: reset.
  window.addEventListener("pageshow", function () {
    if (busy) { busy.textContent = ""; }
    if (button) { button.removeAttribute("aria-disabled"); button.classList.remove("busy"); }
  });
})();
