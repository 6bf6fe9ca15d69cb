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
      var start = function () {
        if (box.dataset.view) {
          var v = JSON.parse(box.dataset.view);
          map.setView([v[0], v[1]], v[2], { animate: false });
        }
        map.on("moveend", update);
        if (box.dataset.view) { update(); }
      };
      // The map script fits its bounds with an animated zoom that Leaflet starts on the
      // next animation frame; a setView before or during it is undone or ignored. So
      // look after that frame, and if the zoom is animating, wait for it to end.
      requestAnimationFrame(function () {
        if (map._animatingZoom) { map.once("zoomend", start); } else { start(); }
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
