/* The facility editor's pin map (plain Leaflet, no other library).
 *
 * Coordinates on this map are in the datum of its tiles (config.datum: "wgs84" for OSM,
 * "gcj02" for AMap). The pin's position is written to the hidden lon/lat fields in
 * that datum and the form declares it in map_datum; the server converts to WGS-84.
 * A placed or moved pin must be confirmed (pin_confirmed) before the form is saved —
 * the server refuses an unconfirmed pin too. Every text that comes from data is
 * inserted as text or as server-escaped HTML, never built into HTML here.
 */
(function () {
  "use strict";
  var el = document.getElementById("pin-map");
  if (!el || typeof L === "undefined") { return; }
  var script = document.currentScript || document.querySelector("script[data-msg-moved]");
  var msg = function (name) { return (script && script.dataset["msg" + name]) || ""; };
  var config = JSON.parse(el.dataset.config);
  var lonField = document.getElementById("pin-lon");
  var latField = document.getElementById("pin-lat");
  var confirmBox = document.getElementById("pin-confirmed");
  var status = document.getElementById("pin-status");
  var coords = document.getElementById("coords");
  var coordsDatum = document.getElementById("coords-datum");
  var nearby = document.getElementById("nearby");
  var kind = document.getElementById("kind");
  var name = document.getElementById("name");

  var map = L.map(el, { center: config.centre, zoom: config.zoom, maxZoom: config.tiles.max_zoom || 19 });
  el.dataset.ready = "1";
  window.locatorPinMap = map;
  if (config.tiles.url) {
    L.tileLayer(config.tiles.url, {
      subdomains: config.tiles.subdomains || "abc",
      maxZoom: config.tiles.max_zoom || 19,
      attribution: escapeText(config.tiles.attribution || "")
    }).addTo(map);
  }
  map.attributionControl.setPrefix(false);

  var marker = null;
  function ensureMarker(latlng) {
    if (marker) { marker.setLatLng(latlng); return marker; }
    marker = L.marker(latlng, { draggable: true, autoPan: true, title: "pin", keyboard: true }).addTo(map);
    marker.getElement().classList.add("editor-pin");
    marker.on("dragend", function () { moved(marker.getLatLng(), true, false); });
    return marker;
  }
  if (config.pin) { ensureMarker(config.pin); }

  // Until a pin is placed or moved there is nothing to confirm.
  if (!config.moved && confirmBox) { confirmBox.disabled = true; }

  function moved(latlng, fromMap, first) {
    lonField.value = latlng.lng.toFixed(7);
    latField.value = latlng.lat.toFixed(7);
    if (fromMap && coords) { coords.value = ""; }
    confirmBox.disabled = false;
    confirmBox.checked = false;
    setStatus(first ? msg("Placed") : msg("Moved"));
    el.dataset.pinLat = latField.value;
    el.dataset.pinLon = lonField.value;
    checkNearby();
  }

  map.on("click", function (e) {
    var first = !marker;
    ensureMarker(e.latlng);
    moved(e.latlng, true, first);
  });

  if (confirmBox) {
    confirmBox.addEventListener("change", function () {
      if (confirmBox.checked) { setStatus(msg("Confirmed")); }
    });
  }

  var show = document.getElementById("coords-show");
  if (show) {
    show.addEventListener("click", function () {
      if (!coordsDatum.value) { setStatus(msg("ChooseDatum")); return; }
      var url = el.dataset.convertUrl + "?" + new URLSearchParams({
        coords: coords.value, from: coordsDatum.value, to: config.datum
      });
      fetch(url, { credentials: "same-origin" })
        .then(function (r) { return r.json(); })
        .then(function (body) {
          if (body.error) { setStatus(msg("BadCoords") + " " + body.error); return; }
          var latlng = L.latLng(body.lat, body.lon);
          var first = !marker;
          ensureMarker(latlng);
          map.setView(latlng, Math.max(map.getZoom(), 17));
          moved(latlng, false, first);
        })
        .catch(function () { setStatus(msg("BadCoords")); });
    });
  }

  var timer = null;
  function checkNearby() {
    if (!nearby || !lonField.value) { return; }
    var url = el.dataset.checkUrl + "?" + new URLSearchParams({
      lon: lonField.value, lat: latField.value, datum: config.datum,
      kind: kind ? kind.value : "", name: name ? name.value : "", id: el.dataset.facilityId || ""
    });
    fetch(url, { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : ""; })
      .then(function (html) { nearby.innerHTML = html; })  // server-rendered, escaped
      .catch(function () { /* the server checks again on save */ });
  }
  [kind, name].forEach(function (input) {
    if (!input) { return; }
    input.addEventListener("change", checkNearby);
  });

  var hours = document.getElementById("opening_hours");
  var preview = document.getElementById("hours-preview");
  if (hours && preview) {
    hours.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(function () {
        var url = hours.dataset.previewUrl + "?" + new URLSearchParams({ value: hours.value });
        fetch(url, { credentials: "same-origin" })
          .then(function (r) { return r.ok ? r.text() : ""; })
          .then(function (html) { preview.innerHTML = html; })  // server-rendered, escaped
          .catch(function () {});
      }, 300);
    });
  }

  function setStatus(text) { if (status) { status.textContent = text; } }
  function escapeText(text) {
    var div = document.createElement("div");
    div.textContent = text;
    return div.innerHTML;
  }
})();
