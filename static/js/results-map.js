/*
 * The results map of a nearest answer (/nearest, /embed/map): the rider's position and one
 * numbered marker per result, with a tooltip and a popup.
 *
 * locator/formats/maps.py (nearest_map) renders one Folium shell per tile provider and
 * locale; its inline script creates the Leaflet map and calls
 * window.locatorResults(map, data) with this answer's data:
 *
 *   data.origin   {at: [lat, lon], html, tooltip} or null  (the "your position" marker)
 *   data.hits     [{at: [lat, lon], html, tooltip, popup, z}] in rank order
 *   data.icon     {iconSize, iconAnchor, popupAnchor, className}  (44 px tap targets)
 *   data.fit      [[south, west], [north, east]] to fit, or null (the view is already set)
 *   data.fitMaxZoom, data.popupMaxWidth
 *
 * Coordinates are Leaflet [lat, lon] in the tiles' datum (converted by the server). Every
 * html/tooltip/popup string was escaped by the server (maps.escape_text) and is markup,
 * exactly as the Folium markers it replaces put it into the page.
 */
(function () {
  "use strict";

  window.locatorResults = function (map, data) {
    function icon(html) {
      return L.divIcon({
        html: html,
        iconSize: data.icon.iconSize,
        iconAnchor: data.icon.iconAnchor,
        popupAnchor: data.icon.popupAnchor,
        className: data.icon.className
      });
    }

    function marker(item, zIndexOffset) {
      var m = L.marker(item.at, { icon: icon(item.html), zIndexOffset: zIndexOffset }).addTo(map);
      m.bindTooltip("<div>" + item.tooltip + "</div>", { direction: "top", sticky: false });
      return m;
    }

    if (data.origin) { marker(data.origin, 1000); }
    data.hits.forEach(function (hit) {
      marker(hit, hit.z).bindPopup(L.popup({ maxWidth: data.popupMaxWidth }).setContent(hit.popup));
    });
    if (data.fit) {
      map.fitBounds(data.fit, { padding: [24, 24], maxZoom: data.fitMaxZoom });
    }
  };
})();
