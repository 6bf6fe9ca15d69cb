// The embed's "find nearest": ask for the position once, round it to 4 decimals (about
// 10 m, so that neighbours share cached answers) and reload the embed from there.
(function () {
  "use strict";
  var script = document.currentScript;
  var button = document.getElementById("find-nearest");
  var form = document.getElementById("find-form");
  var status = document.getElementById("geo-status");
  if (button && form) {
    button.addEventListener("click", function () {
      if (!navigator.geolocation) {
        status.textContent = script.dataset.msgDenied;
        return;
      }
      status.textContent = script.dataset.msgLocating;
      button.disabled = true;
      navigator.geolocation.getCurrentPosition(function (pos) {
        document.getElementById("lon").value = pos.coords.longitude.toFixed(4);
        document.getElementById("lat").value = pos.coords.latitude.toFixed(4);
        form.submit();
      }, function () {
        button.disabled = false;
        status.textContent = script.dataset.msgDenied;
      }, { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 });
    });
  }
}());
