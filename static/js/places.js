// Place search suggestions: as the rider types, ask /api/v1/places and list the
// matches as plain links to the results page (keyboard and screen-reader friendly:
// Tab reaches them, the count is announced). Text is set with textContent only.
(function () {
  "use strict";
  var input = document.getElementById("place-q");
  var list = document.getElementById("place-suggestions");
  var status = document.getElementById("place-status");
  if (!input || !list || !window.fetch) { return; }
  var form = input.form;
  var timer = null;
  var seq = 0;

  var NAMES = ["kind", "amenity", "open_now", "lang"];
  // The filters to carry: the live toggles of the start page's form if there is one,
  // else this form's hidden copies. Inputs are read in page order, so the hidden
  // open_now=false followed by a checked open_now=true ends with "true" (last wins).
  function filterInputs() {
    var source = document.getElementById("find-form") || form;
    return Array.prototype.filter.call(source.querySelectorAll("input"), function (el) {
      return NAMES.indexOf(el.name) >= 0 && (el.type !== "checkbox" || el.checked);
    });
  }
  function filters() {
    var params = new URLSearchParams();
    filterInputs().forEach(function (el) { params.append(el.name, el.value); });
    return params;
  }
  form.addEventListener("submit", function () {
    if (!document.getElementById("find-form")) { return; }
    form.querySelectorAll("input[type=hidden]").forEach(function (el) {
      if (NAMES.indexOf(el.name) >= 0) { el.remove(); }
    });
    filterInputs().forEach(function (el) {
      var copy = document.createElement("input");
      copy.type = "hidden"; copy.name = el.name; copy.value = el.value;
      form.appendChild(copy);
    });
  });

  function render(features) {
    list.textContent = "";
    features.forEach(function (f) {
      var p = f.properties;
      var params = filters();
      params.set("lon", f.geometry.coordinates[0].toFixed(6));
      params.set("lat", f.geometry.coordinates[1].toFixed(6));
      params.set("from", p.name);
      var li = document.createElement("li");
      var a = document.createElement("a");
      a.href = input.dataset.target + "?" + params.toString();
      var name = document.createElement("span");
      name.className = "place-name";
      name.textContent = p.name + (document.documentElement.lang === "en" && p.name_en ? " (" + p.name_en + ")" : "");
      var ctx = document.createElement("span");
      ctx.className = "place-kind";
      ctx.textContent = p.context;
      a.appendChild(name);
      a.appendChild(document.createTextNode(" "));
      a.appendChild(ctx);
      li.appendChild(a);
      list.appendChild(li);
    });
    status.textContent = features.length
      ? status.dataset.msgCount.replace("{n}", String(features.length))
      : status.dataset.msgNone;
  }

  input.addEventListener("input", function () {
    clearTimeout(timer);
    var q = input.value.trim();
    if (!q) { list.textContent = ""; status.textContent = ""; return; }
    timer = setTimeout(function () {
      var mine = ++seq;
      fetch(input.dataset.endpoint + "?limit=6&q=" + encodeURIComponent(q), { headers: { Accept: "application/geo+json" } })
        .then(function (r) { return r.ok ? r.json() : { features: [] }; })
        .then(function (body) { if (mine === seq) { render(body.features || []); } })
        .catch(function () { /* offline: the form still submits */ });
    }, 200);
  });
}());
