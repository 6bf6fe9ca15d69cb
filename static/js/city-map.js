// The city map (/map). The page is a shell built by Folium (locator/formats/maps.py,
// city_map) that holds no facility; this script fetches what the viewport needs from
// /api/v1/map/…: clusters and single facilities of the tiles in view (a grid per zoom,
// counted on the server: locator/core/clusters.py), the district outlines for the zoom
// band, and a facility's details when its marker is tapped. Positions come in the tiles'
// datum. Text from the data is only ever inserted with textContent.
(function () {
  "use strict";
  var hook = window.locatorCityMap;
  if (!hook || !hook.map) { return; }
  var map = hook.map;
  var cfg = hook.config;
  var layers = hook.layers;
  var container = map.getContainer();
  var TILE = 256;
  var MAX_LAT = 85.0511287798;
  var loaded = null;
  var pending = null;
  var outlineLevel = -1;

  function clamp(v, lo, hi) { return Math.max(lo, Math.min(hi, v)); }

  // The whole tiles the view touches: equal views ask for equal URLs (shared caches).
  function tileRange() {
    var z = map.getZoom();
    var b = map.getPixelBounds();
    var last = Math.pow(2, z) - 1;
    return {
      z: z,
      x0: clamp(Math.floor(b.min.x / TILE), 0, last),
      y0: clamp(Math.floor(b.min.y / TILE), 0, last),
      x1: clamp(Math.floor((b.max.x - 1) / TILE), 0, last),
      y1: clamp(Math.floor((b.max.y - 1) / TILE), 0, last)
    };
  }

  function inside(t, outer) {
    return outer && t.z === outer.z && t.x0 >= outer.x0 && t.y0 >= outer.y0 && t.x1 <= outer.x1 && t.y1 <= outer.y1;
  }

  function bboxOf(t) {
    // Half a pixel inside the outer edges, so that the east and south edges do not reach
    // into the next row or column of cells.
    var nw = map.unproject([t.x0 * TILE + 0.5, t.y0 * TILE + 0.5], t.z);
    var se = map.unproject([(t.x1 + 1) * TILE - 0.5, (t.y1 + 1) * TILE - 0.5], t.z);
    return [
      clamp(nw.lng, -180, 180).toFixed(6),
      clamp(se.lat, -MAX_LAT, MAX_LAT).toFixed(6),
      clamp(se.lng, -180, 180).toFixed(6),
      clamp(nw.lat, -MAX_LAT, MAX_LAT).toFixed(6)
    ].join(",");
  }

  function compact(n) {
    return n < 10000 ? String(n) : n < 1000000 ? Math.round(n / 1000) + "k" : (n / 1000000).toFixed(1) + "M";
  }

  function clusterIcon(n, kind) {
    var k = cfg.kinds[kind];
    var s = n < 10 ? 30 : n < 100 ? 36 : n < 1000 ? 42 : 48;
    var c = s / 2;
    var svg = '<svg width="' + s + '" height="' + s + '" viewBox="0 0 ' + s + " " + s +
      '" aria-hidden="true" focusable="false"><circle cx="' + c + '" cy="' + c + '" r="' + c +
      '" fill="' + k.colour + '" fill-opacity="0.35"/><circle cx="' + c + '" cy="' + c + '" r="' + (c - 5) +
      '" fill="' + k.colour + '" stroke="#fff" stroke-width="1.5"/><text x="' + c + '" y="' + c +
      '" dy="0.35em" text-anchor="middle" fill="#fff" font-family="system-ui,sans-serif" font-size="12" ' +
      'font-weight="700">' + compact(n) + "</text></svg>";
    return L.divIcon({
      html: '<div class="locator-cluster-badge" aria-label="' + n + " \u00d7 " + k.labelHtml + '">' + svg + "</div>",
      className: "locator-icon locator-cluster marker-cluster",
      iconSize: L.point(Math.max(s, 44), Math.max(s, 44))  // a 44 px tap target at least
    });
  }

  function clusterMarker(row, kind) {
    var count = row[2];
    var marker = L.marker([row[1], row[0]], { icon: clusterIcon(count, kind), keyboard: true });
    marker.on("click", function () {
      map.setView(marker.getLatLng(), Math.min(map.getZoom() + 2, cfg.maxClusterZoom + 1, map.getMaxZoom()));
    });
    return marker;
  }

  function text(tag, className, value) {
    var el = document.createElement(tag);
    el.className = className;
    el.textContent = value;
    return el;
  }

  function fillPopup(box, d) {
    var kind = cfg.kinds[d.kind];
    box.textContent = "";
    box.appendChild(text("strong", "locator-popup-name", d.name));
    box.appendChild(text("span", "locator-popup-kind", kind ? kind.label : d.kind));
    if (d.status === "temporarily_closed") { box.appendChild(text("span", "locator-popup-status", cfg.text.closed)); }
    if (d.address) { box.appendChild(text("span", "locator-popup-address", d.address)); }
    if (d.demo) { box.appendChild(text("span", "locator-popup-demo", cfg.text.demo)); }
    var where = new URLSearchParams({ lon: Number(d.coordinates[0]).toFixed(6), lat: Number(d.coordinates[1]).toFixed(6) });
    var nearest = text("a", "locator-popup-link", cfg.text.nearest);
    nearest.href = cfg.urls.nearest + "?" + where.toString();
    box.appendChild(nearest);
    var details = text("a", "locator-popup-link", cfg.text.details);
    details.href = cfg.urls.facility_page.replace("__id__", encodeURIComponent(d.id));
    box.appendChild(details);
  }

  function openPopup(marker, id) {
    if (marker.getPopup()) { return; }  // bound on the first tap; Leaflet opens it since
    var box = text("div", "locator-popup", cfg.text.loading);
    box.setAttribute("data-facility-id", id);
    marker.bindPopup(box, { maxWidth: 280 }).openPopup();
    fetch(cfg.urls.facility.replace("__id__", encodeURIComponent(id)), { headers: { Accept: "application/json" } })
      .then(function (r) { if (!r.ok) { throw new Error("HTTP " + r.status); } return r.json(); })
      .then(function (d) { fillPopup(box, d); marker.getPopup().update(); })
      .catch(function () { box.textContent = cfg.text.failed; });
  }

  function facilityMarker(row, kind) {
    var k = cfg.kinds[kind];
    var el = document.createElement("div");
    el.className = "locator-marker";
    el.setAttribute("data-facility-id", row[2]);
    el.setAttribute("data-kind", kind);
    el.setAttribute("aria-label", k.label);
    el.innerHTML = k.svg;  // a constant of the page, no data
    var icon = L.divIcon({ html: el, className: "locator-icon", iconSize: [44, 44], iconAnchor: [22, 22], popupAnchor: [0, -14] });
    var marker = L.marker([row[1], row[0]], { icon: icon, keyboard: true });
    marker.on("click", function () { openPopup(marker, row[2]); });
    return marker;
  }

  // Markers on the map by key ("f" + id, or "c" + kind, position and count), so that a
  // new answer only adds and removes what changed (an open popup stays open).
  var shown = {};

  function render(data) {
    var kinds = data.kinds;
    var next = {};
    data.clusters.forEach(function (row) {
      var kind = kinds[row[3]];
      if (layers[kind]) { next["c" + row[3] + ":" + row[0] + "," + row[1] + ":" + row[2]] = [row, kind, clusterMarker]; }
    });
    data.facilities.forEach(function (row) {
      var kind = kinds[row[3]];
      if (layers[kind]) { next["f" + row[2] + "@" + row[0] + "," + row[1]] = [row, kind, facilityMarker]; }
    });
    Object.keys(shown).forEach(function (key) {
      if (!next[key]) {
        var old = shown[key];
        layers[old.kind].removeLayer(old.marker);
        delete shown[key];
      }
    });
    Object.keys(next).forEach(function (key) {
      if (shown[key]) { return; }
      var item = next[key];
      var marker = item[2](item[0], item[1]);
      shown[key] = { marker: marker, kind: item[1] };
      layers[item[1]].addLayer(marker);
    });
    container.setAttribute("data-revision", String(data.revision));
    container.setAttribute("data-zoom", String(data.zoom));
    container.setAttribute("data-state", "ready");
  }

  function load() {
    var t = tileRange();
    if (inside(t, loaded) || inside(t, pending && pending.range)) { return; }
    if (pending) { pending.controller.abort(); }
    var controller = new AbortController();
    pending = { range: t, controller: controller };
    container.setAttribute("data-state", "loading");
    var query = new URLSearchParams({ bbox: bboxOf(t), zoom: String(t.z) });
    if (cfg.datum !== "wgs84") { query.set("datum", cfg.datum); }
    fetch(cfg.urls.clusters + "?" + query.toString(), { signal: controller.signal, headers: { Accept: "application/json" } })
      .then(function (r) { if (!r.ok) { throw new Error("HTTP " + r.status); } return r.json(); })
      .then(function (data) {
        if (pending && pending.controller === controller) { pending = null; }
        loaded = t;
        render(data);
      })
      .catch(function (err) {
        if (err && err.name === "AbortError") { return; }
        if (pending && pending.controller === controller) { pending = null; }
        container.setAttribute("data-state", "error");
      });
  }

  function levelFor(z) {
    for (var i = 0; i < cfg.outlineZooms.length; i++) { if (z <= cfg.outlineZooms[i]) { return i; } }
    return cfg.outlineZooms.length - 1;
  }

  function loadOutlines() {
    var level = levelFor(map.getZoom());
    if (level === outlineLevel || !hook.districts) { return; }
    outlineLevel = level;
    var zoom = Math.min(cfg.outlineZooms[level], map.getMaxZoom(), 19);
    var query = new URLSearchParams({ zoom: String(zoom) });
    if (cfg.datum !== "wgs84") { query.set("datum", cfg.datum); }
    fetch(cfg.urls.districts + "?" + query.toString(), { headers: { Accept: "application/json" } })
      .then(function (r) { if (!r.ok) { throw new Error("HTTP " + r.status); } return r.json(); })
      .then(function (data) {
        if (data.level !== levelFor(map.getZoom())) { return; }  // zoomed on meanwhile
        var q = data.quantum;
        var lines = data.lines.map(function (flat) {
          var out = [];
          var x = 0, y = 0;
          for (var i = 0; i + 1 < flat.length; i += 2) {
            x += flat[i];
            y += flat[i + 1];
            out.push([y * q, x * q]);
          }
          return out;
        });
        var style = Object.assign({ interactive: false }, cfg.outlineStyle);
        hook.districts.clearLayers();
        hook.districts.addLayer(L.polyline(lines, style));
      })
      .catch(function () { outlineLevel = -1; });
  }

  map.on("moveend", function () { load(); loadOutlines(); });
  load();
  loadOutlines();
}());
