// "Find nearest": ask for the position once, then submit the form with lon/lat (WGS-84).
(function () {
  "use strict";
  var script = document.currentScript;
  var button = document.getElementById("find-nearest");
  var form = document.getElementById("find-form");
  var status = document.getElementById("geo-status");
  if (!button || !form) { return; }
  button.addEventListener("click", function () {
    if (!navigator.geolocation) {
      status.textContent = script.dataset.msgDenied;
      document.getElementById("area").focus();
      return;
    }
    status.textContent = script.dataset.msgLocating;
    button.disabled = true;
    navigator.geolocation.getCurrentPosition(function (pos) {
      document.getElementById("lon").value = pos.coords.longitude.toFixed(6);
      document.getElementById("lat").value = pos.coords.latitude.toFixed(6);
      form.submit();
    }, function () {
      button.disabled = false;
      status.textContent = script.dataset.msgDenied;
      document.getElementById("area").focus();
    }, { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 });
  });
}());
