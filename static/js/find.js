// "Find nearest": on submit without a position, ask for it once, then submit with
// lon/lat (WGS-84 from the browser). Without JavaScript the form still submits and the
// server asks where the rider is.
(function () {
  "use strict";
  var script = document.currentScript;
  var form = document.getElementById("find-form");
  var button = document.getElementById("find-nearest");
  var status = document.getElementById("geo-status");
  if (!form || !button) { return; }
  var lon = document.getElementById("lon");
  var lat = document.getElementById("lat");
  function fallback() {
    button.disabled = false;
    status.textContent = script.dataset.msgDenied;
    var area = document.getElementById("area");
    if (area) { area.focus(); }
  }
  form.addEventListener("submit", function (event) {
    if (lon.value && lat.value) { return; }
    event.preventDefault();
    if (!navigator.geolocation) { fallback(); return; }
    status.textContent = script.dataset.msgLocating;
    button.disabled = true;
    navigator.geolocation.getCurrentPosition(function (pos) {
      lon.value = pos.coords.longitude.toFixed(6);
      lat.value = pos.coords.latitude.toFixed(6);
      form.submit();
    }, fallback, { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 });
  });
}());
