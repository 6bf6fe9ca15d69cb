// Share a view. On /nearest the query URL is the permalink (the map fits its results).
// On /map the URL follows the map (lon, lat, zoom in the tiles' datum, which the server
// converts back), so reloading or sharing reopens the same view.
(function () {
  "use strict";
  var box = document.getElementById("share");
  if (!box) { return; }
  var input = document.getElementById("share-url");
  var status = box.querySelector(".share-status");
  var button = document.getElementById("share-button");
  // The server writes site-relative links (absolute ones come only from LOCATOR_PUBLIC_URL).
  if (input.value) { input.value = new URL(input.value, location.href).href; }

  function leafletMap() {
    var el = document.querySelector(".folium-map");
    return el && window[el.id] && typeof window[el.id].getCenter === "function" ? window[el.id] : null;
  }

  if (box.dataset.kind === "map") {
    var map = leafletMap();
    if (map) {
      var update = function () {
        var c = map.getCenter();
        var params = new URLSearchParams(location.search);
        params.set("lon", c.lng.toFixed(6));
        params.set("lat", c.lat.toFixed(6));
        params.set("zoom", String(map.getZoom()));
        if (box.dataset.datum && box.dataset.datum !== "wgs84") { params.set("datum", box.dataset.datum); } else { params.delete("datum"); }
        var url = location.pathname + "?" + params.toString();
        history.replaceState(null, "", url);
        input.value = location.href;
        button.href = location.href;
      };
      // Follow the map from the start: any move, the opening one included, updates the URL.
      map.on("moveend", update);
      var applied = false;
      var applyView = function () {
        if (applied || !box.dataset.view) { return; }
        applied = true;
        var v = JSON.parse(box.dataset.view);
        map.setView([v[0], v[1]], v[2], { animate: false });
        update();
      };
      // The map script fits its bounds with an animated zoom that Leaflet starts on the
      // next animation frame; a setView before or during it is undone or ignored. So
      // apply a shared view after that frame, once the zoom has ended (or after 1 s if
      // the animation was interrupted and never ends).
      requestAnimationFrame(function () {
        if (map._animatingZoom) {
          map.once("zoomend", applyView);
          setTimeout(applyView, 1000);
        } else {
          applyView();
        }
      });
    }
  }

  button.addEventListener("click", function (event) {
    event.preventDefault();
    var url = input.value;
    if (navigator.share) {
      navigator.share({ title: box.dataset.title || document.title, url: url }).catch(function () {});
      return;
    }
    var done = function () { status.textContent = box.dataset.msgCopied; };
    if (navigator.clipboard && navigator.clipboard.writeText) {
      navigator.clipboard.writeText(url).then(done, function () { input.select(); });
    } else {
      input.select();
    }
  });
}());
