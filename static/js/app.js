// Every page: service worker (offline shortlist) and the offline note.
(function () {
  "use strict";
  var root = document.documentElement;
  root.classList.add("js");
  var servedOffline = root.getAttribute("data-offline") === "1";
  function online() { if (!servedOffline) { root.setAttribute("data-offline", "0"); } }
  window.addEventListener("offline", function () { root.setAttribute("data-offline", "1"); });
  window.addEventListener("online", online);
  if (!("serviceWorker" in navigator)) { return; }
  navigator.serviceWorker.addEventListener("message", function (event) {
    if (event.data && event.data.type === "saved") { root.setAttribute("data-saved", "1"); }
  });
  // Register after the page has loaded, so that installing (and caching the app shell)
  // never competes with the first paint on a slow phone.
  function register() {
    navigator.serviceWorker.register(root.dataset.sw || "/sw.js", { scope: "/" }).catch(function () {});
  }
  if (document.readyState === "complete") { register(); } else { window.addEventListener("load", register); }
  if (root.dataset.saveResults === "1" && !servedOffline) {
    navigator.serviceWorker.ready.then(function (reg) {
      if (reg.active) { reg.active.postMessage({ type: "save-results", url: location.href }); }
    });
  }
}());
