// "Find nearest": on submit without a position, ask for it once, then submit with
// lon/lat (WGS-84 from the browser). The button is shown only where it can work: it is
// hidden without JavaScript (a <noscript> style in base.html) and here when the browser
// has no geolocation (or not in a secure context); the place search and the district
// list below always work.
(function () {
  "use strict";
  var script = document.currentScript;
  var form = document.getElementById("find-form");
  var button = document.getElementById("find-nearest");
  var status = document.getElementById("geo-status");
  if (!form || !button) { return; }
  var lon = document.getElementById("lon");
  var lat = document.getElementById("lat");
  if (!navigator.geolocation || window.isSecureContext === false) {
    form.querySelectorAll(".needs-js").forEach(function (el) { el.hidden = true; });
    status.textContent = script.dataset.msgDenied;
    return;
  }
  function fallback() {
    button.disabled = false;
    status.textContent = script.dataset.msgDenied;
    var area = document.getElementById("place-q") || document.getElementById("area");
    if (area) { area.focus(); }
  }
  form.addEventListener("submit", function (event) {
    if (lon.value && lat.value) { return; }
    event.preventDefault();
    status.textContent = script.dataset.msgLocating;
    button.disabled = true;
    navigator.geolocation.getCurrentPosition(function (pos) {
      lon.value = pos.coords.longitude.toFixed(6);
      lat.value = pos.coords.latitude.toFixed(6);
      form.submit();
    }, fallback, { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 });
  });
}());
