// One "go" button per result: it opens the rider's navigation app, chosen once and
// remembered on this device (localStorage), walking or cycling remembered too. The other
// apps stay one tap away ("Other apps"). Links open in a new tab, so the results page is
// never replaced. Without JavaScript the button opens AMap and the list works the same.
(function () {
  "use strict";
  var KEY_APP = "locator.nav.app";
  var KEY_MODE = "locator.nav.mode";
  function read(key) { try { return window.localStorage.getItem(key); } catch (e) { return null; } }
  function write(key, value) { try { window.localStorage.setItem(key, value); } catch (e) { /* private mode */ } }

  function choose(row, app, mode) {
    var modes = (row.getAttribute("data-modes") || "walk").split(",");
    if (modes.indexOf(mode) < 0) { mode = modes[0]; }  // no walking link beyond 3 km
    var link = row.querySelector('a.nav-link[data-app="' + app + '"][data-mode="' + mode + '"]') ||
      row.querySelector('a.nav-link[data-mode="' + mode + '"]');
    if (!link) { return; }
    var go = row.querySelector("a.go");
    go.href = link.href;
    go.setAttribute("data-app", link.getAttribute("data-app"));
    go.setAttribute("data-mode", link.getAttribute("data-mode"));
    go.querySelector(".go-app").textContent = link.getAttribute("data-app-label");
    go.querySelector(".go-mode").textContent = link.getAttribute("data-mode-label");
  }

  function applyAll() {
    var app = read(KEY_APP);
    var mode = read(KEY_MODE) || "walk";
    if (!app) { return; }
    document.querySelectorAll(".go-row").forEach(function (row) { choose(row, app, mode); });
  }

  document.addEventListener("click", function (event) {
    var target = event.target.closest ? event.target.closest("a") : null;
    if (!target) { return; }
    var row = target.closest(".go-row");
    if (!row) { return; }
    if (target.classList.contains("nav-link")) {
      // Choosing an app in "Other apps" remembers it (and the mode) for every go button.
      write(KEY_APP, target.getAttribute("data-app"));
      write(KEY_MODE, target.getAttribute("data-mode"));
      applyAll();
      return;
    }
    if (target.classList.contains("go") && !read(KEY_APP)) {
      // First time: choose the app once (the list of apps opens; the choice is remembered).
      event.preventDefault();
      var details = row.querySelector("details.other-apps");
      details.open = true;
      var first = details.querySelector("a.nav-link");
      if (first) { first.focus(); }
    }
  });
  applyAll();
}());
