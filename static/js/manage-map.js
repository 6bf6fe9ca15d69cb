/* The facility editor's pin map (plain Leaflet, no other library).
 *
 * Coordinates on this map are in the datum of its tiles (config.datum: "wgs84" for OSM,
 * "gcj02" for AMap). The pin's position is written to the hidden lon/lat fields in
 * that datum and the form declares it in map_datum; the server converts to WGS-84.
 * A placed or moved pin must be confirmed (pin_confirmed) before the form is saved —
 * the server refuses an unconfirmed pin too. Every text that comes from data is
 * inserted as text or as server-escaped HTML, never built into HTML here.
 *
 * "Use my location": the browser's position is WGS-84 (the Geolocation API's datum); it
 * is converted to the map's datum by the server (/manage/convert) before the pin is
 * placed. A fix whose accuracy is worse than data-gps-limit metres is not used unless the
 * manager taps "use it anyway" (the form then says pin_accuracy_ok=1; the server checks
 * it too). Either way the pin still has to be confirmed at the entrance.
 *
 * Tiles that fail to load (no connection, a blocked tile server) show a notice: the pin,
 * GPS and typed coordinates work without them.
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
  var source = document.getElementById("pin-source");
  var accuracyField = document.getElementById("pin-accuracy");
  var accuracyOk = document.getElementById("pin-accuracy-ok");
  var tilesNote = document.getElementById("tiles-note");
  var gpsLimit = parseFloat((script && script.dataset.gpsLimit) || "50");

  var map = L.map(el, { center: config.centre, zoom: config.zoom, maxZoom: config.tiles.max_zoom || 19 });
  el.dataset.ready = "1";
  window.locatorPinMap = map;
  var tilesLoaded = 0;
  var tilesFailed = 0;
  function showTilesNote() {
    if (tilesNote && tilesLoaded === 0) {
      tilesNote.textContent = msg("TilesFailed") || tilesNote.textContent;
      tilesNote.hidden = false;
      el.dataset.tiles = "failed";
    }
  }
  if (config.tiles.url) {
    var layer = L.tileLayer(config.tiles.url, {
      subdomains: config.tiles.subdomains || "abc",
      maxZoom: config.tiles.max_zoom || 19,
      attribution: escapeText(config.tiles.attribution || "")
    });
    layer.on("tileerror", function () { tilesFailed += 1; showTilesNote(); });
    layer.on("tileload", function () {
      tilesLoaded += 1;
      el.dataset.tiles = "loaded";
      if (tilesNote) { tilesNote.hidden = true; }
    });
    layer.addTo(map);
  } else {
    el.dataset.tiles = "none";
  }
  map.attributionControl.setPrefix(false);

  var marker = null;
  var circle = null;
  // A pin 49 px tall (Leaflet's own image, drawn larger): a tap target of at least 44 px.
  var pinIcon = el.dataset.icon ? L.icon({
    iconUrl: el.dataset.icon, iconRetinaUrl: el.dataset.icon, shadowUrl: el.dataset.shadow,
    iconSize: [30, 49], iconAnchor: [15, 49], shadowSize: [49, 49], shadowAnchor: [15, 49]
  }) : new L.Icon.Default();
  function ensureMarker(latlng) {
    if (marker) { marker.setLatLng(latlng); return marker; }
    marker = L.marker(latlng, { draggable: true, autoPan: true, title: "pin", keyboard: true, icon: pinIcon }).addTo(map);
    marker.getElement().classList.add("editor-pin");
    marker.on("dragend", function () { setSource("map"); moved(marker.getLatLng(), true, false); });
    return marker;
  }
  if (config.pin) { ensureMarker(config.pin); }

  // Until a pin is placed or moved there is nothing to confirm.
  if (!config.moved && confirmBox) { confirmBox.disabled = true; }

  function setSource(kindOfPin, accuracy, accepted) {
    if (source) { source.value = kindOfPin; }
    if (accuracyField) { accuracyField.value = accuracy === undefined ? "" : String(Math.round(accuracy)); }
    if (accuracyOk) { accuracyOk.value = accepted ? "1" : ""; }
    if (kindOfPin !== "gps" && circle) { map.removeLayer(circle); circle = null; }
  }

  function moved(latlng, fromMap, first, text) {
    lonField.value = latlng.lng.toFixed(7);
    latField.value = latlng.lat.toFixed(7);
    if (fromMap && coords) { coords.value = ""; }
    confirmBox.disabled = false;
    confirmBox.checked = false;
    setStatus(text || (first ? msg("Placed") : msg("Moved")));
    el.dataset.pinLat = latField.value;
    el.dataset.pinLon = lonField.value;
    checkNearby();
  }

  map.on("click", function (e) {
    var first = !marker;
    ensureMarker(e.latlng);
    setSource("map");
    moved(e.latlng, true, first);
  });

  if (confirmBox) {
    confirmBox.addEventListener("change", function () {
      if (confirmBox.checked) { setStatus(msg("Confirmed")); }
    });
  }

  function convert(lon, lat, from) {
    var url = el.dataset.convertUrl + "?" + new URLSearchParams({
      coords: lon + ", " + lat, from: from, to: config.datum
    });
    return fetch(url, { credentials: "same-origin" }).then(function (r) { return r.json(); });
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
          setSource("typed");
          moved(latlng, false, first);
        })
        .catch(function () { setStatus(msg("BadCoords")); });
    });
  }

  // --- use my location -----------------------------------------------------------------
  var locate = document.getElementById("locate");
  var gpsStatus = document.getElementById("gps-status");
  var poor = document.getElementById("gps-poor");
  var poorText = document.getElementById("gps-poor-text");
  var pending = null;  // a fix worse than the limit, waiting for "use it anyway"
  function gpsSay(text) { if (gpsStatus) { gpsStatus.textContent = text; } }
  function fill(template, m) {
    return template.replace("{m}", String(Math.round(m))).replace("{limit}", String(Math.round(gpsLimit)));
  }
  function placeFix(fix, accepted) {
    var c = fix.coords;
    convert(c.longitude.toFixed(7), c.latitude.toFixed(7), "wgs84")
      .then(function (body) {
        if (body.error) { gpsSay(msg("GpsFailed")); return; }
        var latlng = L.latLng(body.lat, body.lon);
        var first = !marker;
        ensureMarker(latlng);
        map.setView(latlng, Math.max(map.getZoom(), 18));
        if (circle) { map.removeLayer(circle); }
        circle = L.circle(latlng, { radius: c.accuracy, interactive: false, weight: 1 }).addTo(map);
        setSource("gps", c.accuracy, accepted);
        el.dataset.gpsAccuracy = String(Math.round(c.accuracy));
        moved(latlng, true, first, fill(msg("GpsPlaced"), c.accuracy));
        gpsSay(fill(msg("GpsPlaced"), c.accuracy));
      })
      .catch(function () { gpsSay(msg("GpsFailed")); });
  }
  function requestFix() {
    if (poor) { poor.hidden = true; }
    pending = null;
    gpsSay(msg("GpsWaiting"));
    navigator.geolocation.getCurrentPosition(function (fix) {
      if (fix.coords.accuracy > gpsLimit) {
        pending = fix;
        if (poorText) { poorText.textContent = fill(msg("GpsPoor"), fix.coords.accuracy); }
        if (poor) { poor.hidden = false; }
        gpsSay("");
        el.dataset.gpsAccuracy = String(Math.round(fix.coords.accuracy));
        return;
      }
      placeFix(fix, false);
    }, function (err) {
      gpsSay(err && err.code === 1 ? msg("GpsDenied") : msg("GpsFailed"));
    }, { enableHighAccuracy: true, timeout: 20000, maximumAge: 0 });
  }
  if (locate) {
    if (!("geolocation" in navigator)) {
      gpsSay(msg("GpsUnsupported"));
    } else {
      locate.hidden = false;
      locate.addEventListener("click", requestFix);
      var accept = document.getElementById("gps-accept");
      var retry = document.getElementById("gps-retry");
      if (accept) {
        accept.addEventListener("click", function () {
          if (!pending) { return; }
          if (poor) { poor.hidden = true; }
          placeFix(pending, true);
          pending = null;
        });
      }
      if (retry) { retry.addEventListener("click", requestFix); }
    }
  }

  // --- likely duplicates ----------------------------------------------------------------
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

  function setStatus(text) { if (status) { status.textContent = text; } }
  function escapeText(text) {
    var div = document.createElement("div");
    div.textContent = text;
    return div.innerHTML;
  }
})();
