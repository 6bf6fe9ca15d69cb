"""Leaflet maps for the locator, built with folium; the only module that imports folium.

The builders are pure: they take domain objects and return the rendered pieces of a
folium figure (:class:`MapParts`) for *our* Jinja templates to place. They never import
Flask; the app passes ``asset_url`` (e.g. ``lambda p: url_for("static", filename=p)``).

Rules this module enforces
--------------------------
* **No CDN.** folium's default asset lists (Leaflet from jsDelivr, jQuery, Bootstrap,
  Font Awesome, awesome-markers) are replaced on every element that has them, so the
  page references only files under ``static/`` (through ``asset_url``) plus the tile
  URL. Nothing here needs jQuery: folium's ``Popup`` (which calls ``$(...)``) and the
  ``$(document).ready`` in ``Map`` are replaced by jQuery-free subclasses.
* **Every data string is escaped** with :func:`escape_text` before it reaches folium.
  That is more than :func:`markupsafe.escape`: folium embeds some strings in JavaScript
  template literals (backtick, ``${``, backslash), and branca re-parses every rendered
  macro as a Jinja template, so ``{{ ... }}`` in a facility name would otherwise be
  *executed on the server*. :func:`escape_text` turns all of these into HTML character
  references, which display unchanged wherever Leaflet inserts the text as HTML.
* **Coordinate order.** Our coordinates are ``(lon, lat)``; Leaflet's are
  ``[lat, lon]``, obtained only through :func:`locator.core.geo.to_leaflet`.
* **Datum.** Data are WGS-84. A tile provider declares its datum; for a GCJ-02
  provider (AMap) every marker, the user's position and the district outlines are
  shifted with :func:`locator.core.geo.from_wgs84` for display only. Links back to the API
  (``/nearest?lon=..&lat=..``) always carry WGS-84.
"""

from __future__ import annotations

import base64
import json
import math
import re
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, cast

import folium
import numpy as np
import shapely
from branca.element import Figure
from folium.plugins import FastMarkerCluster
from folium.template import Template
from markupsafe import Markup, escape
from shapely.geometry import mapping, shape

from locator.core.coverage import CoverageReport
from locator.core.domain import KINDS, Facility, Label, NearestHit
from locator.core.geo import Datum, from_wgs84, to_leaflet, valid_lonlat

__all__ = [
    "ASSETS",
    "DATA_ATTRIBUTION",
    "DATA_ATTRIBUTION_ZH",
    "DEMO_ATTRIBUTION",
    "MarkerDetails",
    "TILE_PROVIDERS",
    "MapParts",
    "TileProvider",
    "city_map",
    "coverage_map",
    "district_lines",
    "escape_text",
    "inline_asset_url",
    "nearest_map",
    "outline_level",
    "overview_map",
    "standalone_page",
]

#: Paths under ``static/`` of every asset a map page may reference (for ``asset_url``).
ASSETS: Final[dict[str, str]] = {
    "leaflet_js": "vendor/leaflet/leaflet.js",
    "leaflet_css": "vendor/leaflet/leaflet.css",
    "markercluster_js": "vendor/leaflet.markercluster/leaflet.markercluster.js",
    "markercluster_css": "vendor/leaflet.markercluster/MarkerCluster.css",
    "markercluster_default_css": "vendor/leaflet.markercluster/MarkerCluster.Default.css",
    "locator_map_css": "css/locator-map.css",
    "results_map_js": "js/results-map.js",
}
#: The coverage planner's map stylesheet (only :func:`coverage_map` uses it).
PLAN_MAP_CSS: Final = "css/plan-map.css"

#: Credit for our facility data, always added to the map's attribution control (English).
DATA_ATTRIBUTION: Final = "Data: © OpenStreetMap contributors (ODbL)"
#: Appended to :data:`DATA_ATTRIBUTION` while the synthetic demo layer is shown.
DEMO_ATTRIBUTION: Final = "; demo layer"
#: The same credits on Chinese pages (the attribution is in the page's language).
DATA_ATTRIBUTION_ZH: Final = "数据：© OpenStreetMap 贡献者（ODbL）"
DEMO_ATTRIBUTION_ZH: Final = "；示例图层"

#: Decimal places of displayed coordinates (1e-6 degrees is about 0.1 m).
COORD_DECIMALS: Final = 6
#: Decimal places of district outline vertices (1e-5 degrees is about 1 m).
OUTLINE_DECIMALS: Final = 5
#: Douglas-Peucker tolerance for district outlines, degrees (1e-4 is about 10 m): the
#: Beijing districts drop from ~51,000 to ~21,000 vertices.
OUTLINE_TOLERANCE_DEG: Final = 1e-4

#: Where the map looks when there is nothing to fit (Tian'anmen, WGS-84 lon, lat).
BEIJING_CENTRE: Final = (116.3975, 39.9087)
DEFAULT_ZOOM: Final = 11
#: Lowest zoom of the city map (its data API answers from zoom 3).
MAP_MIN_ZOOM: Final = 3
#: Highest zoom ``fit_bounds`` may choose (e.g. for a single point).
FIT_MAX_ZOOM: Final = 16

_JINJA_DELIMITERS: Final = ("{{", "{%", "{#")


# --- text --------------------------------------------------------------------------

_TEXT: Final[dict[str, Label]] = {
    "origin": Label("我的位置", "Your position"),
    "distance": Label("距离约 {} 米", "{} m away"),
    "demo": Label("演示数据，非真实站点", "Demo data, not a real station"),
    "nearest_link": Label("查找这里附近的站点", "Find the nearest from here"),
    "districts": Label("行政区界", "District boundaries"),
    "tiles_failed": Label(
        "底图加载失败（网络问题），位置仍然正确；请以列表为准。",
        "The base map did not load (network problem); positions are still right. Use the list.",
    ),
    "details": Label("详情", "Details"),
}


def escape_text(value: object) -> str:
    r"""Escape a data string for every place folium may put it.

    Parameters
    ----------
    value : object
        Any value; it is converted with ``str`` first, so a :class:`markupsafe.Markup`
        is escaped too (data is never trusted as markup).

    Returns
    -------
    str
        HTML-escaped text (``& < > " '`` as by :func:`markupsafe.escape`) in which
        the backtick, ``$``, ``\``, ``{`` and ``}`` are also replaced by numeric
        character references. The result is safe as HTML text, in a quoted HTML
        attribute, inside a JavaScript template literal or string, and cannot open a
        Jinja block when branca re-parses rendered output. It displays as the original text wherever
        it is interpreted as HTML (popups, tooltips, attributes); never assign it to
        ``textContent``.
    """
    text = str(escape(str(value)))
    return (
        text.replace("\\", "&#92;")
        .replace("`", "&#96;")
        .replace("$", "&#36;")
        .replace("{", "&#123;")
        .replace("}", "&#125;")
    )


def _script_json(value: Any) -> str:
    """JSON for a ``<script>`` element (``<`` ``>`` escaped; UTF-8 kept, ``&`` kept).

    Raises
    ------
    ValueError
        On NaN or infinity.
    """
    out = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return (
        out.replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


def _js_literal(value: Any) -> str:
    """:func:`_script_json` for code that branca's Jinja pass will see (checked by :func:`_no_jinja`)."""
    return _no_jinja(_script_json(value))


def _no_jinja(code: str) -> str:
    """Return ``code`` after checking that branca's Jinja pass would leave it alone."""
    for delimiter in _JINJA_DELIMITERS:
        if delimiter in code:
            raise ValueError(f"generated map code must not contain {delimiter!r}")
    return code


# --- tiles -------------------------------------------------------------------------


@dataclass(frozen=True)
class TileProvider:
    """A raster tile source and the datum its imagery is drawn in.

    Attributes
    ----------
    name : str
        Registry key, e.g. ``"osm"``.
    url : str
        Leaflet URL template (``{s}``, ``{z}``, ``{x}``, ``{y}``); ``""`` for no tiles.
        ``https://`` or ``http://`` (the latter is blocked as mixed content on an HTTPS
        page).
    attribution : str
        Plain text, escaped when rendered. Our data credit is added separately.
    datum : Datum
        Datum of the imagery. Markers are shifted from WGS-84 to it for display.
    max_zoom : int
        Highest zoom level the provider serves.
    subdomains : str
        Characters substituted for ``{s}``.
    attribution_zh : str
        The attribution on Chinese pages (default: :attr:`attribution`).

    Raises
    ------
    ValueError
        If ``url`` is neither empty nor ``http(s)://``, or contains ``{{``, ``{%`` or
        ``{#``.
    """

    name: str
    url: str
    attribution: str
    datum: Datum
    max_zoom: int = 18
    subdomains: str = "abc"
    attribution_zh: str = ""

    def __post_init__(self) -> None:
        if self.url and not self.url.startswith(("https://", "http://")):
            raise ValueError(f"tile URL must be http(s):// (got {self.url!r})")
        _no_jinja(self.url)


#: Known tile providers by key.
TILE_PROVIDERS: Final[dict[str, TileProvider]] = {
    "osm": TileProvider(
        name="osm",
        url="https://tile.openstreetmap.org/{z}/{x}/{y}.png",
        attribution="© OpenStreetMap contributors",
        datum=Datum.WGS84,
        max_zoom=19,
        subdomains="abc",
        attribution_zh="© OpenStreetMap 贡献者",
    ),
    "amap": TileProvider(
        name="amap",
        url=(
            "https://webrd0{s}.is.autonavi.com/appmaptile?lang=zh_cn&size=1&scale=1&style=8&x={x}&y={y}&z={z}"
        ),
        attribution="© 高德地图 AutoNavi",
        datum=Datum.GCJ02,
        max_zoom=18,
        subdomains="1234",
    ),
    "none": TileProvider(name="none", url="", attribution="", datum=Datum.WGS84),
}


# --- output ------------------------------------------------------------------------


@dataclass(frozen=True)
class MapParts:
    """The rendered pieces of one map, to be placed by our own page template.

    Attributes
    ----------
    header : Markup
        ``<link>``/``<script src>`` tags for the assets (Leaflet first) and a ``<style>``
        sizing the map element; goes inside ``<head>``.
    html : Markup
        The map's ``<div>`` (100 % of its container's width and height; give the
        container a height); goes where the map should appear.
    script : Markup
        One inline ``<script>`` element (folium's ``figure.script``, wrapped) that
        creates the map; goes at the end of ``<body>``, after ``html``.
    """

    header: Markup
    html: Markup
    script: Markup


# --- folium elements without jQuery or CDN ----------------------------------------


class _Map(folium.Map):
    """``folium.Map`` that leaves ``<html>``, ``<body>`` and the viewport alone.

    folium's header also sets ``html, body`` to 100 %, adds a zoom-locking viewport
    meta tag and an ineffective ``L_NO_TOUCH`` script; its script calls jQuery's
    ``$(document).ready`` when layers are kept in front. None of that is wanted here.
    The scale bar takes :attr:`scale_options` (metric only on Chinese pages).
    """

    scale_options: dict[str, Any] = {}  # noqa: RUF012 - replaced per map, never mutated

    _template = Template(
        """
        {% macro header(this, kwargs) %}
            <style>
                #{{ this.get_name() }} {
                    position: {{ this.position }};
                    width: {{ this.width[0] }}{{ this.width[1] }};
                    height: {{ this.height[0] }}{{ this.height[1] }};
                    left: {{ this.left[0] }}{{ this.left[1] }};
                    top: {{ this.top[0] }}{{ this.top[1] }};
                }
                .leaflet-container { font-size: {{ this.font_size }}; }
            </style>
        {% endmacro %}

        {% macro html(this, kwargs) %}
            <div class="folium-map locator-map" id={{ this.get_name()|tojson }}></div>
        {% endmacro %}

        {% macro script(this, kwargs) %}
            var {{ this.get_name() }} = L.map(
                {{ this.get_name()|tojson }},
                {
                    center: {{ this.location|tojson }},
                    crs: L.CRS.{{ this.crs }},
                    ...{{ this.options|tojavascript }}
                }
            );
            {%- if this.control_scale %}
            L.control.scale({{ this.scale_options|tojson }}).addTo({{ this.get_name() }});
            {%- endif %}
            {%- if this.zoom_control_position %}
            L.control.zoom( { position: {{ this.zoom_control|tojson }} } ).addTo({{ this.get_name() }});
            {%- endif %}
            {% if this.objects_to_stay_in_front %}
            function objects_in_front() {
                {%- for obj in this.objects_to_stay_in_front %}
                    {{ obj.get_name() }}.bringToFront();
                {%- endfor %}
            };
            {{ this.get_name() }}.on("overlayadd", objects_in_front);
            objects_in_front();
            {%- endif %}
        {% endmacro %}
        """
    )


class _TileNotice(folium.MacroElement):
    """A visible notice on the map when its tiles fail to load (once per page)."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
            (function (map, text) {
                var shown = false;
                map.eachLayer(function (layer) {
                    if (!(layer instanceof L.TileLayer)) { return; }
                    layer.on("tileerror", function () {
                        if (shown) { return; }
                        shown = true;
                        var notice = L.control({ position: "topright" });
                        notice.onAdd = function () {
                            var box = L.DomUtil.create("div", "locator-tile-notice");
                            box.setAttribute("role", "status");
                            box.textContent = text;
                            return box;
                        };
                        notice.addTo(map);
                        map.getContainer().setAttribute("data-tiles-failed", "1");
                    });
                });
            })({{ this._parent.get_name() }}, {{ this.text_js }});
        {% endmacro %}
        """
    )

    def __init__(self, text: str) -> None:
        super().__init__()
        self._name = "TileNotice"
        self.text_js = _js_literal(text)


class _HtmlPopup(folium.Popup):
    """A popup whose content is pre-escaped HTML passed as a JSON string.

    folium's own Popup builds its content with jQuery (``$(`...`)[0]``) inside a JS
    template literal; this one needs neither.
    """

    _template = Template(
        """
        var {{ this.get_name() }} = L.popup({{ this.options|tojavascript }});
        {{ this.get_name() }}.setContent({{ this.content_js }});
        {{ this._parent.get_name() }}.bindPopup({{ this.get_name() }});
        """
    )

    def __init__(self, html: str, max_width: int = 280) -> None:
        super().__init__(None, max_width=max_width)
        self.content_js = _js_literal(html)


class _Attribution(folium.MacroElement):
    """Add a line to the parent map's attribution control (its prefix as plain text: no tiny link)."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
            if ({{ this._parent.get_name() }}.attributionControl) {
                {{ this._parent.get_name() }}.attributionControl.setPrefix("Leaflet");
                {{ this._parent.get_name() }}.attributionControl.addAttribution(
                    {{ this.text_js }}
                );
            }
        {% endmacro %}
        """
    )

    def __init__(self, text_html: str) -> None:
        super().__init__()
        self._name = "Attribution"
        self.text_js = _js_literal(text_html)


class _KindCluster(FastMarkerCluster):
    """FastMarkerCluster that emits its rows as compact JSON and adds them in bulk.

    ``callback`` is a JS expression evaluating to ``function (row) -> L.Marker``.
    Unlike the parent, markers are collected and handed to ``addLayers`` (with
    ``chunkedLoading``), and adding the cluster to the map is left to ``Layer``
    (which honours ``show``).
    """

    _template = Template(
        """
        {% macro script(this, kwargs) %}
            var {{ this.get_name() }} = (function () {
                var callback = {{ this.callback_js }};
                var data = {{ this.data_js }};
                var cluster = L.markerClusterGroup({{ this.options|tojavascript }});
                {%- if this.icon_create_function is not none %}
                cluster.options.iconCreateFunction = {{ this.icon_create_function.strip() }};
                {%- endif %}
                var markers = new Array(data.length);
                for (var i = 0; i < data.length; i++) {
                    markers[i] = callback(data[i]);
                }
                cluster.addLayers(markers);
                return cluster;
            })();
        {% endmacro %}
        """
    )

    def __init__(
        self,
        data: list[list[Any]],
        callback_js: str,
        *,
        name: str,
        icon_create_function: str,
        **options: Any,
    ) -> None:
        super().__init__(
            data,
            callback=None,
            name=name,
            overlay=True,
            control=True,
            show=True,
            icon_create_function=icon_create_function,
            **options,
        )
        self._name = "KindCluster"
        self.callback_js = _no_jinja(callback_js)
        self.data_js = _js_literal(self.data)


def _use_assets(
    element: Any,
    asset_url: Callable[[str], str],
    js: Iterable[str] = (),
    css: Iterable[str] = (),
) -> None:
    """Replace a folium element's CDN asset lists by our static files."""
    element.default_js = [(key, asset_url(ASSETS[key])) for key in js]
    element.default_css = [(key, asset_url(ASSETS[key])) for key in css]


# --- styles ------------------------------------------------------------------------


@dataclass(frozen=True)
class _KindStyle:
    colour: str
    shape: str
    glyph: Label


#: Shape, fill (white text on it has contrast >= 4.5:1) and glyph per kind.
_KIND_STYLES: Final[dict[str, _KindStyle]] = {
    "warm_station": _KindStyle("#c2410c", "circle", Label("暖", "W")),
    "union_home": _KindStyle("#1864ab", "square", Label("家", "U")),
    "nursing_room": _KindStyle("#a61e4d", "hexagon", Label("母", "N")),
}
_OTHER_STYLE: Final = _KindStyle("#495057", "diamond", Label("?", "?"))
_ORIGIN_COLOUR: Final = "#1971c2"
_ICON_PX: Final = 28
#: A result marker's tap target (WCAG 2.5.5 / the issue: >= 44 CSS px); its shape is drawn smaller inside.
_TARGET_PX: Final = 44
_RESULT_SHAPE_PX: Final = 34


def _kind_style(kind: str) -> _KindStyle:
    return _KIND_STYLES.get(kind, _OTHER_STYLE)


def _kind_label(kind: str, locale: str) -> str:
    """Escaped display label of ``kind`` (the key itself if unknown)."""
    label = KINDS.get(kind)
    return escape_text(label.get(locale) if label is not None else kind)


def _shape_svg(style: _KindStyle, size: int, glyph: str) -> str:
    """Inline SVG (no xmlns needed in HTML) of a kind's shape with ``glyph`` (escaped)."""
    c = size / 2
    r = size / 2 - 2
    if style.shape == "circle":
        shape = f'<circle cx="{c:g}" cy="{c:g}" r="{r:g}"'
    elif style.shape == "square":
        shape = f'<rect x="2" y="2" width="{size - 4}" height="{size - 4}" rx="4"'
    elif style.shape == "hexagon":
        pts = " ".join(
            f"{c + r * math.cos(math.radians(a)):.1f},{c + r * math.sin(math.radians(a)):.1f}"
            for a in range(-90, 270, 60)
        )
        shape = f'<polygon points="{pts}"'
    else:
        shape = f'<polygon points="{c:g},2 {size - 2},{c:g} {c:g},{size - 2} 2,{c:g}"'
    font = max(9, round(size * 0.46))
    glyph_svg = (
        f'<text x="{c:g}" y="{c:g}" dy="0.35em" text-anchor="middle" fill="#fff" '
        f'font-family="system-ui,sans-serif" font-size="{font}" font-weight="700">'
        f"{glyph}</text>"
        if glyph
        else ""
    )
    return (
        f'<svg width="{size}" height="{size}" viewBox="0 0 {size} {size}" '
        f'aria-hidden="true" focusable="false">'
        f'{shape} fill="{style.colour}" stroke="#fff" stroke-width="2"/>{glyph_svg}</svg>'
    )


def _swatch(kind: str) -> str:
    style = _kind_style(kind)
    return f'<span class="locator-swatch">{_shape_svg(style, 16, "")}</span>'


def _origin_svg() -> str:
    s = _ICON_PX
    c = s / 2
    return (
        f'<svg width="{s}" height="{s}" viewBox="0 0 {s} {s}" aria-hidden="true" '
        f'focusable="false"><circle cx="{c:g}" cy="{c:g}" r="{c - 1:g}" '
        f'fill="{_ORIGIN_COLOUR}" fill-opacity="0.25"/><circle cx="{c:g}" cy="{c:g}" '
        f'r="7" fill="{_ORIGIN_COLOUR}" stroke="#fff" stroke-width="3"/></svg>'
    )


def _icon_options(html: str, size: int = _ICON_PX) -> dict[str, Any]:
    half = size // 2
    return {
        "html": html,
        "iconSize": [size, size],
        "iconAnchor": [half, half],
        "popupAnchor": [0, -half],
        "className": "locator-icon",
    }


def _cluster_icon_function(kind: str, locale: str) -> str:
    """JS ``iconCreateFunction`` drawing a cluster in the kind's colour with its count."""
    colour = _js_literal(_kind_style(kind).colour)
    label = _js_literal(_kind_label(kind, locale))
    return _no_jinja(
        "function (cluster) {\n"
        "  var n = cluster.getChildCount();\n"
        "  var s = n < 10 ? 30 : n < 100 ? 36 : n < 1000 ? 42 : 48;\n"
        "  var c = s / 2;\n"
        "  var svg = '<svg width=\"' + s + '\" height=\"' + s + '\" viewBox=\"0 0 ' + s +\n"
        '    \' \' + s + \'" aria-hidden="true" focusable="false">\' +\n'
        "    '<circle cx=\"' + c + '\" cy=\"' + c + '\" r=\"' + c + '\" fill=\"' + "
        f'{colour} + \'" fill-opacity="0.35"/>\' +\n'
        "    '<circle cx=\"' + c + '\" cy=\"' + c + '\" r=\"' + (c - 5) + '\" fill=\"' + "
        f'{colour} + \'" stroke="#fff" stroke-width="1.5"/>\' +\n'
        '    \'<text x="\' + c + \'" y="\' + c + \'" dy="0.35em" text-anchor="middle" \' +\n'
        '    \'fill="#fff" font-family="system-ui,sans-serif" font-size="12" \' +\n'
        "    'font-weight=\"700\">' + n + '</text></svg>';\n"
        "  return L.divIcon({\n"
        "    html: '<div class=\"locator-cluster-badge\" aria-label=\"' + n + ' \u00d7 ' + "
        f"{label} + '\">' + svg + '</div>',\n"
        "    className: 'locator-icon locator-cluster marker-cluster',\n"
        "    iconSize: L.point(s, s)\n"
        "  });\n"
        "}"
    )


# --- geometry ----------------------------------------------------------------------


def _checked(lon: float, lat: float) -> tuple[float, float]:
    lon, lat = float(lon), float(lat)
    if not valid_lonlat(lon, lat):
        raise ValueError(f"invalid WGS-84 coordinates lon={lon!r}, lat={lat!r}")
    return lon, lat


def _display(lon: float, lat: float, datum: Datum, decimals: int = COORD_DECIMALS) -> list[float]:
    """WGS-84 ``(lon, lat)`` to Leaflet ``[lat, lon]`` in the tiles' datum, rounded."""
    lon, lat = _checked(lon, lat)
    dlon, dlat = from_wgs84(lon, lat, datum)
    return to_leaflet(round(dlon, decimals), round(dlat, decimals))


def _bounds(points: Iterable[Sequence[float]]) -> list[list[float]] | None:
    """``[[south, west], [north, east]]`` of Leaflet ``[lat, lon]`` points, or None."""
    lats: list[float] = []
    lons: list[float] = []
    for lat, lon in points:
        lats.append(lat)
        lons.append(lon)
    if not lats:
        return None
    return [[min(lats), min(lons)], [max(lats), max(lons)]]


_OUTLINE_STYLE: Final = {"color": "#5f3dc4", "weight": 1.5, "opacity": 0.7, "fill": False}
_OUTLINE_CACHE_SIZE: Final = 8
_outline_cache: dict[tuple[int, Datum], tuple[object, tuple[dict[str, Any], list[list[float]]]]] = {}
_outline_lock = threading.Lock()


def _district_outlines(districts: dict[str, Any], datum: Datum) -> tuple[dict[str, Any], list[list[float]]]:
    """:func:`_outline_geojson`, cached per ``(districts object, datum)``.

    The app passes the same (never mutated) districts dict on every request; converting
    its ~50,000 vertices each time would dominate the page's cost. The cache keeps a
    reference to the dict, so its ``id`` cannot be reused while the entry lives.
    """
    key = (id(districts), datum)
    with _outline_lock:
        entry = _outline_cache.get(key)
    if entry is not None and entry[0] is districts:
        return entry[1]
    result = _outline_geojson(districts, datum)
    with _outline_lock:
        while len(_outline_cache) >= _OUTLINE_CACHE_SIZE:
            _outline_cache.pop(next(iter(_outline_cache)))
        _outline_cache[key] = (districts, result)
    return result


def _outline_geojson(districts: dict[str, Any], datum: Datum) -> tuple[dict[str, Any], list[list[float]]]:
    """Copy ``districts`` keeping only simplified geometry, in ``datum``, styled.

    Returns the FeatureCollection (GeoJSON order ``(lon, lat)``, simplified with
    :data:`OUTLINE_TOLERANCE_DEG` in WGS-84, then shifted and rounded to
    :data:`OUTLINE_DECIMALS`) and the Leaflet ``[lat, lon]`` corners of its bounding
    box (empty if there are no vertices).

    Raises
    ------
    ValueError
        If ``districts`` is not a GeoJSON FeatureCollection of valid geometries.
    """
    if not isinstance(districts, dict) or districts.get("type") != "FeatureCollection":
        raise ValueError("districts must be a GeoJSON FeatureCollection dict")
    lats: list[float] = []
    lons: list[float] = []

    def convert(coords: Any) -> Any:
        if coords and isinstance(coords[0], int | float):
            lat, lon = _display(coords[0], coords[1], datum, OUTLINE_DECIMALS)
            lats.append(lat)
            lons.append(lon)
            return [lon, lat]
        return [convert(c) for c in coords]

    def geometry(geo: dict[str, Any]) -> dict[str, Any]:
        if geo["type"] == "GeometryCollection":
            return {"type": "GeometryCollection", "geometries": [geometry(g) for g in geo["geometries"]]}
        return {"type": geo["type"], "coordinates": convert(geo["coordinates"])}

    features = []
    for feature in districts.get("features") or []:
        if not isinstance(feature, dict) or feature.get("geometry") is None:
            continue
        try:
            geom = shape(feature["geometry"]).simplify(OUTLINE_TOLERANCE_DEG, preserve_topology=True)
        except (AttributeError, IndexError, KeyError, TypeError, ValueError, shapely.errors.ShapelyError):
            raise ValueError("malformed GeoJSON geometry in districts") from None
        if geom.is_empty:
            continue
        features.append(
            {"type": "Feature", "geometry": geometry(mapping(geom)), "properties": {"style": _OUTLINE_STYLE}}
        )
    corners = [[min(lats), min(lons)], [max(lats), max(lons)]] if lats else []
    return {"type": "FeatureCollection", "features": features}, corners


# --- assembling --------------------------------------------------------------------


def _new_map(
    tiles: TileProvider,
    asset_url: Callable[[str], str],
    locale: str,
    *,
    demo: bool,
) -> _Map:
    centre = _display(*BEIJING_CENTRE, tiles.datum)
    m = _Map(
        location=centre,
        tiles=None,
        zoom_start=DEFAULT_ZOOM,
        control_scale=True,
        prefer_canvas=True,
    )
    m.options["max_zoom"] = tiles.max_zoom
    zh = locale.lower().startswith("zh")
    m.scale_options = {"imperial": False} if zh else {}  # metric only on Chinese pages
    _use_assets(m, asset_url, js=["leaflet_js"], css=["leaflet_css", "locator_map_css"])
    # Our template owns <head>; branca's http-equiv charset would be a second one.
    _figure(m).header._children.pop("meta_http", None)
    if tiles.url:
        attribution = (tiles.attribution_zh or tiles.attribution) if zh else tiles.attribution
        folium.TileLayer(
            tiles=tiles.url,
            attr=escape_text(attribution) or "&#160;",
            name=tiles.name,
            max_zoom=tiles.max_zoom,
            subdomains=tiles.subdomains,
            control=False,
        ).add_to(m)
        m.add_child(_TileNotice(_TEXT["tiles_failed"].get(locale)))
    if zh:
        credit = DATA_ATTRIBUTION_ZH + (DEMO_ATTRIBUTION_ZH if demo else "")
    else:
        credit = DATA_ATTRIBUTION + (DEMO_ATTRIBUTION if demo else "")
    m.add_child(_Attribution(escape_text(credit)))
    return m


def _fit(m: _Map, points: list[list[float]]) -> None:
    bounds = _bounds(points)
    if bounds is not None:
        m.fit_bounds(bounds, padding=(24, 24), max_zoom=FIT_MAX_ZOOM)


def _figure(m: _Map) -> Figure:
    return cast(Figure, m.get_root())


def _trusted(rendered: str) -> Markup:
    """Mark folium output as safe: every data string in it went through escape_text."""
    return Markup(rendered)  # noqa: S704, RUF100


def _render(m: _Map) -> MapParts:
    figure = _figure(m)
    figure.render()
    return MapParts(
        header=_trusted(figure.header.render()),
        html=_trusted(figure.html.render()),
        script=_trusted("<script>\n" + figure.script.render() + "\n</script>"),
    )


def _demo_badge(locale: str) -> str:
    return f'<span class="locator-popup-demo">{escape_text(_TEXT["demo"].get(locale))}</span>'


@dataclass(frozen=True)
class MarkerDetails:
    """What a result marker's popup says beyond the facility's own fields (words from the page).

    Attributes
    ----------
    hours : str
        The hours in words ("Open until 20:00", "Closed until 12-20 (reason)").
    hours_class : str
        A CSS class for the hours (the page's ``hours`` state).
    live : str
        The live door status in words, or ``""``.
    go_url : str
        The go button's link (``https://``; opened in a new tab).
    go_label : str
        The go button's text.
    page_url : str
        The facility page (site-relative).
    """

    hours: str = ""
    hours_class: str = ""
    live: str = ""
    go_url: str = ""
    go_label: str = ""
    page_url: str = ""


def _hit_popup(hit: NearestHit, locale: str, details: MarkerDetails | None = None) -> str:
    f = hit.facility
    distance = escape_text(_TEXT["distance"].get(locale).format(f"{round(hit.distance_m):,}"))
    parts = [
        '<div class="locator-popup">',
        f'<strong class="locator-popup-name">{int(hit.rank)}. {escape_text(f.name)}</strong>',
        f'<span class="locator-popup-kind">{_kind_label(f.kind, locale)}</span>',
        f'<span class="locator-popup-distance">{distance}</span>',
    ]
    if details is not None and details.hours:
        parts.append(
            f'<span class="locator-popup-hours hours {escape_text(details.hours_class)}">'
            f"{escape_text(details.hours)}</span>"
        )
    if details is not None and details.live:
        parts.append(f'<span class="locator-popup-live">{escape_text(details.live)}</span>')
    if f.address:
        parts.append(f'<span class="locator-popup-address">{escape_text(f.address)}</span>')
    if f.demo:
        parts.append(_demo_badge(locale))
    if details is not None and details.go_url.startswith("https://"):
        parts.append(
            f'<a class="locator-popup-go go" href="{escape_text(details.go_url)}" target="_blank" '
            f'rel="noopener noreferrer" data-facility-id="{escape_text(f.id)}">'
            f"{escape_text(details.go_label)}</a>"
        )
    if details is not None and details.page_url.startswith("/"):
        parts.append(
            f'<a class="locator-popup-page" href="{escape_text(details.page_url)}">'
            f"{escape_text(_TEXT['details'].get(locale))}</a>"
        )
    parts.append("</div>")
    return "".join(parts)


def nearest_map(
    origin: tuple[float, float] | None,
    hits: Sequence[NearestHit],
    tiles: TileProvider,
    *,
    asset_url: Callable[[str], str],
    locale: str = "zh",
    demo: bool = True,
    zoom: int | None = None,
    details: Mapping[str, MarkerDetails] | None = None,
) -> MapParts:
    """Map of a nearest-facility answer: the user's position and one marker per hit.

    Parameters
    ----------
    origin : (lon, lat) or None
        The query point, WGS-84 degrees, drawn as a distinct "your position" marker;
        None when the position is unknown.
    hits : sequence of NearestHit, length n
        The answer, in rank order. Facility coordinates are WGS-84 degrees.
    tiles : TileProvider
        Base map. If its datum is not WGS-84, ``origin`` and every hit are shifted to
        it with :func:`locator.core.geo.from_wgs84` (display only).
    asset_url : callable (str) -> str
        Maps a path under ``static/`` (e.g. ``"vendor/leaflet/leaflet.js"``) to the URL
        the app serves it at. The only way assets are referenced.
    locale : str, default "zh"
        ``zh*`` for Chinese labels, anything else for English.
    demo : bool, default True
        Whether the facilities come from the synthetic demo layer; adds
        :data:`DEMO_ATTRIBUTION` to the data credit.
    zoom : int, optional
        Open at this zoom level, centred on ``origin``, instead of fitting the results
        (the partners' embed lets the host page choose). Ignored without ``origin``.
    details : mapping of facility id to MarkerDetails, optional
        Hours and live status in words and the go button, for the popups (the list's
        own words, so the map says what the list says).

    Returns
    -------
    MapParts
        Header, map element and script. Each hit marker is a ``div.locator-marker``
        numbered with the hit's rank (the list's number), 44 x 44 px to tap, carrying
        ``data-facility-id``, ``data-kind`` and ``data-rank`` (escaped) and an
        ``aria-label``; the origin marker is a ``div.locator-origin``. Markers have a
        tooltip with the name and a popup with rank and name, kind label, distance in
        whole metres, hours and live status in words, address, for demo facilities a
        demo notice, and the go button. The view fits origin
        and hits (max zoom :data:`FIT_MAX_ZOOM`), else Beijing; with ``zoom``, it is
        set in the map's own options, so no script has to race Leaflet's opening
        animation. Folium renders one shell per tile provider, locale and asset URLs
        (kept, 64 at most); the markers are data in the script (their HTML escaped here,
        by :func:`escape_text`), drawn by ``static/js/results-map.js`` — a page costs a
        dictionary and a JSON dump, not ~60 Jinja templates.

    Raises
    ------
    ValueError
        If ``origin`` or a facility has coordinates outside [-180, 180] x [-90, 90] or
        not finite.
    """
    where_origin = None if origin is None else _display(origin[0], origin[1], tiles.datum)
    points: list[list[float]] = [] if where_origin is None else [where_origin]
    data: dict[str, Any] = {"origin": None, "hits": [], "fit": None, "fitMaxZoom": FIT_MAX_ZOOM}
    data["icon"] = {k: v for k, v in _icon_options("", _TARGET_PX).items() if k != "html"}
    data["popupMaxWidth"] = _POPUP_MAX_WIDTH
    if where_origin is not None:
        origin_label = escape_text(_TEXT["origin"].get(locale))
        data["origin"] = {
            "at": where_origin,
            # it has a tooltip, so it is a tap target too (drawn 28 px inside the 44 px icon)
            "html": f'<div class="locator-origin" aria-label="{origin_label}">{_origin_svg()}</div>',
            "tooltip": origin_label,
        }
    for hit in hits:
        f = hit.facility
        where = _display(f.lon, f.lat, tiles.datum)
        points.append(where)
        rank = int(hit.rank)
        name = escape_text(f.name)
        kind_label = _kind_label(f.kind, locale)
        data["hits"].append(
            {
                "at": where,
                "html": (
                    f'<div class="locator-marker" data-facility-id="{escape_text(f.id)}" '
                    f'data-kind="{escape_text(f.kind)}" data-rank="{rank}" '
                    f'aria-label="{rank}. {kind_label}: {name}">'
                    f"{_shape_svg(_kind_style(f.kind), _RESULT_SHAPE_PX, str(rank))}</div>"
                ),
                "tooltip": f"{rank}. {name}",
                "popup": _hit_popup(hit, locale, None if details is None else details.get(f.id)),
                "z": (len(hits) - rank) * 10,
            }
        )
    if zoom is not None and where_origin is not None:
        centre, start_zoom = where_origin, int(zoom)
    else:
        centre, start_zoom = _display(*BEIJING_CENTRE, tiles.datum), DEFAULT_ZOOM
        data["fit"] = _bounds(points)

    key = (tiles, locale, demo, asset_url(ASSETS["leaflet_js"]), asset_url(ASSETS["results_map_js"]))
    with _shell_lock:
        parts = _results_shell_cache.get(key)
    if parts is None:
        parts = _results_shell(tiles, asset_url, locale, demo)
        with _shell_lock:
            while len(_results_shell_cache) >= _SHELL_CACHE_SIZE:
                _results_shell_cache.pop(next(iter(_results_shell_cache)))
            _results_shell_cache[key] = parts
    script = (
        str(parts.script)
        .replace(_VIEW_CENTRE_TOKEN, f"[{centre[0]!r}, {centre[1]!r}]")
        .replace(_VIEW_ZOOM_TOKEN, f'"zoom": {start_zoom!r}')
        .replace(_RESULTS_PLACEHOLDER, _script_json(data))  # last: the data is never searched for tokens
    )
    return MapParts(header=parts.header, html=parts.html, script=_trusted(script))


#: Stands for a nearest answer's JSON in a kept results-map shell (see :func:`nearest_map`).
_RESULTS_PLACEHOLDER: Final = "LOCATORRESULTS_DATA_END"
_POPUP_MAX_WIDTH: Final = 280
_results_shell_cache: dict[tuple[Any, ...], MapParts] = {}


class _ResultsHook(folium.MacroElement):
    """Hand the map and the answer (:data:`_RESULTS_PLACEHOLDER`) to ``static/js/results-map.js``."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
            window.locatorResults({{ this._parent.get_name() }}, LOCATORRESULTS_DATA_END);
        {% endmacro %}
        """
    )

    def __init__(self) -> None:
        super().__init__()
        self._name = "ResultsHook"


def _results_shell(tiles: TileProvider, asset_url: Callable[[str], str], locale: str, demo: bool) -> MapParts:
    """The results map without results, rendered by Folium once per provider, locale and assets.

    Its centre and zoom are :data:`_VIEW_CENTRE_TOKEN` / :data:`_VIEW_ZOOM_TOKEN` and its
    answer :data:`_RESULTS_PLACEHOLDER`, replaced per call by :func:`nearest_map`.
    """
    m = _new_map(tiles, asset_url, locale, demo=demo)
    m.default_js = [*m.default_js, ("results_map_js", asset_url(ASSETS["results_map_js"]))]
    m.location = list(_VIEW_TOKEN_LATLON)
    m.options["zoom"] = _VIEW_TOKEN_ZOOM
    m.add_child(_ResultsHook())
    parts = _render(m)
    script = str(parts.script)
    if not (_VIEW_CENTRE_TOKEN in script and _VIEW_ZOOM_TOKEN in script and _RESULTS_PLACEHOLDER in script):
        raise AssertionError("Folium rendered the results shell differently: update the tokens")
    return parts


def _snake(options: dict[str, Any]) -> dict[str, Any]:
    """Leaflet DivIcon option names to folium.DivIcon keyword names."""
    return {
        "html": options["html"],
        "icon_size": tuple(options["iconSize"]),
        "icon_anchor": tuple(options["iconAnchor"]),
        "popup_anchor": tuple(options["popupAnchor"]),
        "class_name": options["className"],
    }


def _overview_callback(kind: str, locale: str, nearest_url: str) -> str:
    """JS expression: ``function (row) -> L.Marker`` for one kind's rows.

    Rows are ``[lat, lon, name, id, demo, wgs_lon?, wgs_lat?]`` with display
    coordinates first and the name and id already escaped; the WGS-84 pair is present
    only when the display datum differs. Popups are built on opening from those
    escaped strings and constants.
    """
    style = _kind_style(kind)
    kind_label = _kind_label(kind, locale)
    svg = _shape_svg(style, _ICON_PX, escape_text(style.glyph.get(locale)))
    popup_head = '<div class="locator-popup"><strong class="locator-popup-name">'
    popup_kind = f'</strong><span class="locator-popup-kind">{kind_label}</span>'
    link_text = escape_text(_TEXT["nearest_link"].get(locale))
    return _no_jinja(
        "(function () {\n"
        f"  var kindLabel = {_js_literal(kind_label)};\n"
        f"  var kindKey = {_js_literal(escape_text(kind))};\n"
        f"  var svg = {_js_literal(svg)};\n"
        f"  var iconBase = {_js_literal(_icon_options(''))};\n"
        f"  var popupHead = {_js_literal(popup_head)};\n"
        f"  var popupKind = {_js_literal(popup_kind)};\n"
        f"  var demoBadge = {_js_literal(_demo_badge(locale))};\n"
        f"  var nearestUrl = {_js_literal(escape_text(nearest_url))};\n"
        f"  var linkText = {_js_literal(link_text)};\n"
        "  function popup(layer) {\n"
        "    var r = layer.locatorRow;\n"
        "    var lon = r.length > 5 ? r[5] : r[1];\n"
        "    var lat = r.length > 5 ? r[6] : r[0];\n"
        "    return popupHead + r[2] + popupKind + (r[4] ? demoBadge : '') +\n"
        "      '<a href=\"' + nearestUrl + '?lon=' + Number(lon) + '&amp;lat=' +\n"
        "      Number(lat) + '\">' + linkText + '</a></div>';\n"
        "  }\n"
        "  return function (row) {\n"
        "    var options = Object.assign({}, iconBase);\n"
        '    options.html = \'<div class="locator-marker" data-facility-id="\' + row[3] +\n'
        "      '\" data-kind=\"' + kindKey + '\" aria-label=\"' + kindLabel + ': ' + row[2] +\n"
        "      '\">' + svg + '</div>';\n"
        "    var marker = L.marker([row[0], row[1]], {icon: L.divIcon(options)});\n"
        "    marker.locatorRow = row;\n"
        "    marker.bindPopup(popup, {maxWidth: 280});\n"
        "    return marker;\n"
        "  };\n"
        "})()"
    )


def overview_map(
    facilities: Sequence[Facility],
    districts: dict[str, Any] | None,
    tiles: TileProvider,
    *,
    asset_url: Callable[[str], str],
    locale: str = "zh",
    demo: bool = True,
    nearest_url: str = "/nearest",
) -> MapParts:
    """Whole-city map: facilities clustered per kind, with district outlines.

    Parameters
    ----------
    facilities : sequence of Facility, length n
        WGS-84 degrees. Tens of thousands are fine: each kind becomes one
        Leaflet.markercluster layer fed from a compact JSON array
        ``[lat, lon, name, id, demo(0/1)(, wgs_lon, wgs_lat)]`` (strings pre-escaped)
        and markers and popups are built in the browser.
    districts : dict or None
        GeoJSON FeatureCollection of district polygons, WGS-84 ``(lon, lat)``. Only
        geometries are used (properties are dropped), shifted to the tiles' datum
        and rounded to :data:`OUTLINE_DECIMALS`; drawn as non-interactive outlines.
    tiles : TileProvider
        Base map; facilities and outlines are shifted to its datum for display.
    asset_url : callable (str) -> str
        Maps a path under ``static/`` to the URL the app serves it at.
    locale : str, default "zh"
        ``zh*`` for Chinese labels, anything else for English.
    demo : bool, default True
        Whether the demo layer is shown; adds :data:`DEMO_ATTRIBUTION`. Facilities with
        ``demo=True`` get a demo notice in their popup either way.
    nearest_url : str, default "/nearest"
        Path of the nearest page; each popup links to
        ``{nearest_url}?lon=<lon>&lat=<lat>`` with the facility's WGS-84 position.

    Returns
    -------
    MapParts
        One overlay per kind (in :data:`locator.core.domain.KINDS` order, unknown kinds
        last) and one for the districts, switchable in a layer control; the view fits
        the districts, else the facilities, else Beijing.

    Raises
    ------
    ValueError
        On invalid coordinates or a malformed ``districts``.
    """
    m = _new_map(tiles, asset_url, locale, demo=demo)
    points: list[list[float]] = []
    converted = tiles.datum is not Datum.WGS84

    if districts is not None:
        # The cached outline is shared between calls; folium.GeoJson without a
        # style_function embeds it as is and does not modify it.
        outline, points = _district_outlines(districts, tiles.datum)
        folium.GeoJson(
            outline,
            name=escape_text(_TEXT["districts"].get(locale)),
            overlay=True,
            control=True,
            show=True,
            interactive=False,
        ).add_to(m)

    rows: dict[str, list[list[Any]]] = {}
    for f in facilities:
        lat, lon = _display(f.lon, f.lat, tiles.datum)
        row: list[Any] = [lat, lon, escape_text(f.name), escape_text(f.id), int(bool(f.demo))]
        if converted:
            row += [round(float(f.lon), COORD_DECIMALS), round(float(f.lat), COORD_DECIMALS)]
        rows.setdefault(f.kind, []).append(row)
    if not points:
        points = [[r[0], r[1]] for kind_rows in rows.values() for r in kind_rows]

    order = [k for k in KINDS if k in rows] + sorted(k for k in rows if k not in KINDS)
    for kind in order:
        cluster = _KindCluster(
            rows[kind],
            _overview_callback(kind, locale, nearest_url),
            name=f"{_swatch(kind)}{_kind_label(kind, locale)} ({len(rows[kind]):,})",
            icon_create_function=_cluster_icon_function(kind, locale),
            chunked_loading=True,
            show_coverage_on_hover=False,
        )
        _use_assets(
            cluster,
            asset_url,
            js=["markercluster_js"],
            css=["markercluster_css", "markercluster_default_css"],
        )
        cluster.add_to(m)

    folium.LayerControl(collapsed=True).add_to(m)
    _fit(m, points)
    return _render(m)


# --- the city map: a shell whose script fetches what the viewport needs -------------------

#: District outline detail per zoom band: ``(highest zoom, simplification tolerance,
#: quantum)`` in degrees. At zoom 8 a pixel is ~470 m in Beijing, at 12 ~29 m; the finest
#: band keeps the detail the embedded outlines had (1e-4 degrees, ~10 m).
OUTLINE_LEVELS: Final = ((8, 2e-3, 1e-4), (10, 1e-3, 1e-4), (12, 3e-4, 1e-4), (99, 1e-4, 1e-5))

_CITY_TEXT: Final[dict[str, Label]] = {
    "details": Label("站点详情", "Details"),
    "loading": Label("正在加载…", "Loading…"),
    "failed": Label("加载失败，请稍后再试。", "Could not load; try again later."),
    "closed": Label("暂停开放", "Temporarily closed"),
}

_lines_cache: dict[tuple[int, Datum, int], tuple[object, dict[str, Any]]] = {}
_lines_lock = threading.Lock()
_merged_cache: dict[int, tuple[object, Any]] = {}


def outline_level(zoom: float) -> int:
    """The :data:`OUTLINE_LEVELS` band (0-based) used at ``zoom``."""
    for i, (highest, _, _) in enumerate(OUTLINE_LEVELS):
        if zoom <= highest:
            return i
    return len(OUTLINE_LEVELS) - 1


def _merged_boundaries(districts: dict[str, Any]) -> Any:
    """Every district boundary as one MultiLineString, each shared edge once (cached per object)."""
    entry = _merged_cache.get(id(districts))
    if entry is not None and entry[0] is districts:
        return entry[1]
    if not isinstance(districts, dict) or districts.get("type") != "FeatureCollection":
        raise ValueError("districts must be a GeoJSON FeatureCollection dict")
    try:
        geoms = [
            shape(f["geometry"]).boundary
            for f in districts.get("features") or []
            if isinstance(f, dict) and f.get("geometry") is not None
        ]
    except (AttributeError, IndexError, KeyError, TypeError, ValueError, shapely.errors.ShapelyError):
        raise ValueError("malformed GeoJSON geometry in districts") from None
    merged = shapely.line_merge(shapely.union_all(geoms)) if geoms else shapely.MultiLineString()
    _merged_cache.clear()
    _merged_cache[id(districts)] = (districts, merged)
    return merged


def district_lines(districts: dict[str, Any], datum: Datum, level: int) -> dict[str, Any]:
    """District boundaries for the city map, simplified for a zoom band, delta-encoded.

    Parameters
    ----------
    districts : dict
        GeoJSON FeatureCollection of district polygons, WGS-84 ``(lon, lat)``.
    datum : Datum
        The tiles' datum: vertices are shifted to it (display only).
    level : int
        Index into :data:`OUTLINE_LEVELS` (see :func:`outline_level`).

    Returns
    -------
    dict
        ``{"level": level, "quantum": q, "lines": [[x0, y0, dx1, dy1, …], …]}``: every
        boundary shared by two districts once, simplified (Douglas-Peucker, in WGS-84)
        with the band's tolerance, then shifted to ``datum``; vertex ``i`` of a line is
        ``(x0 + dx1 + … + dxi, y0 + … + dyi) * q`` degrees ``(lon, lat)``. Cached per
        ``(districts object, datum, level)``.

    Raises
    ------
    ValueError
        If ``districts`` is not a FeatureCollection of valid geometries, or ``level``
        is out of range.
    """
    if not 0 <= level < len(OUTLINE_LEVELS):
        raise ValueError(f"no outline level {level}")
    key = (id(districts), datum, level)
    with _lines_lock:
        entry = _lines_cache.get(key)
        if entry is not None and entry[0] is districts:
            return entry[1]
        merged = _merged_boundaries(districts)
        _, tolerance, quantum = OUTLINE_LEVELS[level]
        simple = merged.simplify(tolerance, preserve_topology=True)
        lines = []
        for part in getattr(simple, "geoms", [simple]):
            coords = shapely.get_coordinates(part)
            if not len(coords):
                continue
            if datum is not Datum.WGS84:
                coords = np.asarray([from_wgs84(float(x), float(y), datum) for x, y in coords])
            q = np.round(coords / quantum).astype(np.int64)
            deltas = np.vstack([q[:1], np.diff(q, axis=0)])
            keep = (deltas != 0).any(axis=1)
            keep[0] = True
            deltas = deltas[keep]
            if len(deltas) > 1:
                lines.append(deltas.ravel().tolist())
        result = {"level": level, "quantum": quantum, "lines": lines}
        while len(_lines_cache) >= 4 * len(OUTLINE_LEVELS):
            _lines_cache.pop(next(iter(_lines_cache)))
        _lines_cache[key] = (districts, result)
        return result


class _CityMapHook(folium.MacroElement):
    """Hand the map, its layers and the page's settings to ``static/js/city-map.js``.

    Renders ``window.locatorCityMap = {map, layers: {kind: layer}, districts, config}``
    in the map script; the config is JSON (:func:`_js_literal`) of constants only.
    """

    _template = Template(
        """
        {% macro script(this, kwargs) %}
            window.locatorCityMap = {
                map: {{ this._parent.get_name() }},
                layers: {
                    {%- for kind, layer in this.layers %}
                    {{ kind|tojson }}: {{ layer.get_name() }}{{ "," if not loop.last }}
                    {%- endfor %}
                },
                districts: {{ this.districts.get_name() }},
                config: {{ this.config_js }}
            };
        {% endmacro %}
        """
    )

    def __init__(self, layers: list[tuple[str, Any]], districts: Any, config: dict[str, Any]) -> None:
        super().__init__()
        self._name = "CityMapHook"
        self.layers = layers
        self.districts = districts
        self.config_js = _js_literal(config)


def _kind_config(kind: str, locale: str) -> dict[str, Any]:
    style = _kind_style(kind)
    label = KINDS[kind].get(locale) if kind in KINDS else kind
    return {
        "label": label,
        "labelHtml": _kind_label(kind, locale),
        "colour": style.colour,
        "svg": _shape_svg(style, _ICON_PX, escape_text(style.glyph.get(locale))),
    }


def city_map(
    districts: dict[str, Any] | None,
    tiles: TileProvider,
    *,
    asset_url: Callable[[str], str],
    urls: dict[str, str],
    counts: dict[str, int],
    locale: str = "zh",
    demo: bool = True,
    view: Sequence[float] | None = None,
    max_cluster_zoom: int = 16,
) -> MapParts:
    """The city map as a shell: no facility in the page; its script fetches the viewport.

    Parameters
    ----------
    districts : dict or None
        GeoJSON FeatureCollection of district polygons, WGS-84; only their extent is in
        the page (the view fits it). The outlines themselves are fetched by zoom band
        (:func:`district_lines`).
    tiles : TileProvider
        Base map; everything the script draws is in its datum.
    asset_url : callable (str) -> str
        Maps a path under ``static/`` to the URL the app serves it at.
    urls : dict of str
        ``clusters`` (viewport data), ``facility`` and ``facility_page`` (with ``__id__``
        standing for the id), ``districts`` (outlines), ``nearest`` (the nearest page).
        Site-relative; constants, not data.
    counts : dict of str to int
        Facilities shown per kind, for the layer names (layers in
        :data:`locator.core.domain.KINDS` order, unknown kinds last).
    locale : str, default "zh"
    demo : bool, default True
        Adds :data:`DEMO_ATTRIBUTION`; demo facilities' popups carry a notice either way.
    view : (lat, lon, zoom), optional
        Open at this view (Leaflet order, the tiles' datum) instead of fitting the districts.
    max_cluster_zoom : int
        Above it the data holds single facilities only (for the script's cluster taps).

    Returns
    -------
    MapParts
        Header (Leaflet and the map stylesheet only), the map element, and one script
        that creates the map, an empty layer per kind and one for the districts in a
        layer control, and sets ``window.locatorCityMap`` for ``static/js/city-map.js``.
        The page's size does not depend on the number of facilities. Folium renders
        one shell per tile provider, locale, view and settings (kept, 64 at most); the
        counts are put into a kept shell per call.

    Raises
    ------
    ValueError
        On a malformed ``districts`` or an invalid ``view``.
    """
    shown = None
    if view is not None:
        lat, lon, zoom = (float(v) for v in view)
        lon, lat = _checked(lon, lat)
        if not math.isfinite(zoom):
            raise ValueError(f"zoom must be finite (got {zoom!r})")
        shown = (lat, lon, zoom)
    key = (
        id(districts),
        tiles,
        locale,
        demo,
        view is not None,  # the view itself is put into a kept shell per call, like the counts
        tuple(sorted(urls.items())),
        max_cluster_zoom,
        tuple(k for k in counts if k not in KINDS),
        asset_url("vendor/leaflet/leaflet.js"),
    )
    with _shell_lock:
        hit = _shell_cache.get(key)
    if hit is None or hit[0] is not districts:
        parts = _city_shell(
            districts,
            tiles,
            asset_url=asset_url,
            urls=urls,
            kinds=[k for k in KINDS] + sorted(k for k in counts if k not in KINDS),
            locale=locale,
            demo=demo,
            view=view,
            max_cluster_zoom=max_cluster_zoom,
        )
        if view is not None and not (_VIEW_CENTRE_TOKEN in parts.script and _VIEW_ZOOM_TOKEN in parts.script):
            raise AssertionError("Folium rendered the view differently: update the view tokens")
        with _shell_lock:
            while len(_shell_cache) >= _SHELL_CACHE_SIZE:
                _shell_cache.pop(next(iter(_shell_cache)))
            _shell_cache[key] = (districts, parts)
    else:
        parts = hit[1]
    script = str(parts.script)
    for kind in [*KINDS, *counts]:
        script = script.replace(_count_token(kind), f"{int(counts.get(kind, 0)):,}")
    if shown is not None:
        lat, lon, zoom = shown
        centre = f"[{round(lat, COORD_DECIMALS)!r}, {round(lon, COORD_DECIMALS)!r}]"
        script = script.replace(_VIEW_CENTRE_TOKEN, centre).replace(_VIEW_ZOOM_TOKEN, f'"zoom": {zoom!r}')
    return MapParts(header=parts.header, html=parts.html, script=_trusted(script))


#: What a kept shell's centre and zoom are rendered as (numbers no view has), replaced per
#: call: Folium renders one shell for every shared view, not one per view (~50 ms each).
_VIEW_TOKEN_LATLON: Final = (-89.123457, -179.654321)
_VIEW_TOKEN_ZOOM: Final = 0.987654
_VIEW_CENTRE_TOKEN: Final = f"[{_VIEW_TOKEN_LATLON[0]!r}, {_VIEW_TOKEN_LATLON[1]!r}]"
_VIEW_ZOOM_TOKEN: Final = f'"zoom": {_VIEW_TOKEN_ZOOM!r}'


_SHELL_CACHE_SIZE: Final = 64
_shell_cache: dict[tuple[Any, ...], tuple[object, MapParts]] = {}
_shell_lock = threading.Lock()


def _count_token(kind: str) -> str:
    """Stands for a kind's count in a kept shell (letters, digits and ``_`` only)."""
    return "LOCATORCOUNT_" + re.sub(r"[^A-Za-z0-9_]", "_", kind) + "_END"


def _city_shell(
    districts: dict[str, Any] | None,
    tiles: TileProvider,
    *,
    asset_url: Callable[[str], str],
    urls: dict[str, str],
    kinds: list[str],
    locale: str,
    demo: bool,
    view: Sequence[float] | None,
    max_cluster_zoom: int,
) -> MapParts:
    """:func:`city_map` rendered by Folium, with :func:`_count_token` for the counts."""
    m = _new_map(tiles, asset_url, locale, demo=demo)
    m.options["min_zoom"] = MAP_MIN_ZOOM
    order = kinds
    layers = []
    for kind in order:
        group = folium.FeatureGroup(
            name=f"{_swatch(kind)}{_kind_label(kind, locale)} ({_count_token(kind)})",
            overlay=True,
            control=True,
            show=True,
        )
        group.add_to(m)
        layers.append((kind, group))
    outline = folium.FeatureGroup(
        name=escape_text(_TEXT["districts"].get(locale)), overlay=True, control=True, show=True
    )
    outline.add_to(m)
    folium.LayerControl(collapsed=True).add_to(m)
    if view is not None:  # tokens, replaced per call by city_map
        m.location = list(_VIEW_TOKEN_LATLON)
        m.options["zoom"] = _VIEW_TOKEN_ZOOM
    elif districts is not None:
        _, corners = _district_outlines(districts, tiles.datum)
        if corners:
            fit = folium.FitBounds(corners, padding=(24, 24), max_zoom=FIT_MAX_ZOOM)
            fit.options["animate"] = False  # no opening animation for a shared view to race
            m.add_child(fit)
    config = {
        "urls": {k: str(v) for k, v in urls.items()},
        "datum": tiles.datum.value,
        "maxClusterZoom": int(max_cluster_zoom),
        "outlineZooms": [band[0] for band in OUTLINE_LEVELS],
        "outlineStyle": _OUTLINE_STYLE,
        "kinds": {kind: _kind_config(kind, locale) for kind in order},
        "text": {
            "demo": _TEXT["demo"].get(locale),
            "nearest": _TEXT["nearest_link"].get(locale),
            **{k: v.get(locale) for k, v in _CITY_TEXT.items()},
        },
    }
    m.add_child(_CityMapHook(layers, outline, config))
    return _render(m)


# --- the coverage planner's map ----------------------------------------------------------

_PLAN_TEXT: Final[dict[str, Label]] = {
    "areas": Label("街道/乡镇覆盖率", "Coverage by subdistrict"),
    "uncovered": Label("未覆盖的需求点", "Uncovered demand points"),
    "sites": Label("建议新站点", "Suggested sites"),
    "legend": Label("覆盖率（需求权重）", "Covered share (demand weight)"),
    "no_demand": Label("无需求数据", "No demand data"),
    "share": Label("覆盖率 {}", "covered {}"),
    "uncovered_weight": Label("未覆盖权重 {}", "uncovered weight {}"),
    "weight": Label("需求权重 {}", "demand weight {}"),
    "site": Label("建议站点 #{}", "Suggested site #{}"),
    "gain": Label("新增覆盖权重 {}", "adds {} covered weight"),
}

#: Covered-share classes (lower bounds) and their fills: ColorBrewer RdYlBu, 5 classes
#: (colour-blind safe; Brewer C.A., www.ColorBrewer.org), red = poorly covered.
SHARE_CLASSES: Final = (
    (0.0, "#d7191c"),
    (0.2, "#fdae61"),
    (0.4, "#ffffbf"),
    (0.6, "#abd9e9"),
    (0.8, "#2c7bb6"),
)
_NO_DEMAND_FILL: Final = "#dee2e6"
_GAP_COLOUR: Final = "#b3261e"
_SITE_COLOUR: Final = "#2b8a3e"


def share_class(share: float | None) -> int:
    """Index into :data:`SHARE_CLASSES` of a covered share in [0, 1]; -1 for no demand (None)."""
    if share is None:
        return -1
    return max(i for i, (lo, _) in enumerate(SHARE_CLASSES) if share >= lo or i == 0)


def _percent(share: float) -> str:
    return f"{share * 100:.1f}%"


class _GeoJsonLayer(folium.map.Layer):
    """A GeoJSON overlay styled from ``properties.style``, a tooltip from ``properties.tip``.

    ``style`` may hold Leaflet path options including ``className`` (applied when the
    layer is created, so SVG paths carry it); ``tip`` is pre-escaped HTML.
    """

    _template = Template(
        """
        {% macro script(this, kwargs) %}
            var {{ this.get_name() }} = L.geoJson({{ this.data_js }}, {
                style: function (feature) { return feature.properties.style; },
                onEachFeature: function (feature, layer) {
                    if (feature.properties.tip) {
                        layer.bindTooltip(feature.properties.tip, {sticky: true});
                    }
                }
            });
        {% endmacro %}
        """
    )

    def __init__(self, data: dict[str, Any], *, name: str) -> None:
        super().__init__(name=name, overlay=True, control=True, show=True)
        self._name = "PlanAreas"
        self.data_js = _js_literal(data)


class _Legend(folium.MacroElement):
    """A Leaflet control in the bottom-right corner holding pre-escaped HTML."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
            (function () {
                var legend = L.control({position: "bottomright"});
                legend.onAdd = function () {
                    var div = L.DomUtil.create("div", "plan-legend");
                    div.innerHTML = {{ this.html_js }};
                    return div;
                };
                legend.addTo({{ this._parent.get_name() }});
            })();
        {% endmacro %}
        """
    )

    def __init__(self, html: str) -> None:
        super().__init__()
        self._name = "PlanLegend"
        self.html_js = _js_literal(html)


def _legend_html(locale: str) -> str:
    rows = []
    bounds = [lo for lo, _ in SHARE_CLASSES] + [1.0]
    for i, (lo, fill) in enumerate(SHARE_CLASSES):
        hi = bounds[i + 1]
        label = f"{lo * 100:.0f}–{hi * 100:.0f}%" if i < len(SHARE_CLASSES) - 1 else f"≥ {lo * 100:.0f}%"
        rows.append(
            f'<li><span class="plan-swatch" style="background:{fill}"></span>{escape_text(label)}</li>'
        )
    rows.append(
        f'<li><span class="plan-swatch plan-swatch-none" style="background:{_NO_DEMAND_FILL}"></span>'
        f"{escape_text(_PLAN_TEXT['no_demand'].get(locale))}</li>"
    )
    return f"<strong>{escape_text(_PLAN_TEXT['legend'].get(locale))}</strong><ul>{''.join(rows)}</ul>"


def _display_geometry(geometry: dict[str, Any], datum: Datum) -> dict[str, Any]:
    """A GeoJSON geometry with every vertex shifted to ``datum`` (display only) and rounded."""

    def convert(coords: Any) -> Any:
        if coords and isinstance(coords[0], int | float):
            lat, lon = _display(coords[0], coords[1], datum, OUTLINE_DECIMALS)
            return [lon, lat]
        return [convert(c) for c in coords]

    return {"type": geometry["type"], "coordinates": convert(geometry["coordinates"])}


def _gap_icon_function() -> str:
    """JS ``iconCreateFunction`` for uncovered-demand clusters: a red badge with the point count."""
    colour = _js_literal(_GAP_COLOUR)
    return _no_jinja(
        "function (cluster) {\n"
        "  var n = cluster.getChildCount();\n"
        "  var s = n < 10 ? 28 : n < 100 ? 34 : n < 1000 ? 40 : 46;\n"
        "  var box = Math.max(s, 44);  // the badge is drawn s px wide inside a 44 px tap target\n"
        "  return L.divIcon({\n"
        '    html: \'<div class="plan-gap-badge" style="background:\' + '
        f"{colour} + ';width:' + s + 'px;height:' + s + 'px;line-height:' + s + 'px\">' + n + '</div>',\n"
        "    className: 'locator-icon plan-gap-cluster marker-cluster',\n"
        "    iconSize: L.point(box, box)\n"
        "  });\n"
        "}"
    )


def _gap_callback(locale: str) -> str:
    """JS ``function (row) -> L.CircleMarker`` for rows ``[lat, lon, weight(, escaped name)]``.

    The tooltip is built in the browser from the escaped name, a constant label and the
    weight (a number), so a row costs a few bytes even for 50,000 uncovered points.
    """
    before, _, after = _PLAN_TEXT["weight"].get(locale).partition("{}")
    return _no_jinja(
        "(function () {\n"
        f"  var before = {_js_literal(escape_text(before))}, after = {_js_literal(escape_text(after))};\n"
        "  return function (row) {\n"
        "    var m = L.circleMarker([row[0], row[1]], {radius: 5, color: "
        f"{_js_literal(_GAP_COLOUR)}, weight: 1, fillOpacity: 0.75, className: 'plan-gap'}});\n"
        "    m.bindTooltip((row.length > 3 ? row[3] + '<br>' : '') + before + Number(row[2]) + after);\n"
        "    return m;\n"
        "  };\n"
        "})()"
    )


def coverage_map(
    report: CoverageReport,
    areas: dict[str, Any],
    tiles: TileProvider,
    *,
    asset_url: Callable[[str], str],
    locale: str = "zh",
) -> MapParts:
    """The coverage planner's map: a choropleth of subdistricts, uncovered demand, suggested sites.

    Parameters
    ----------
    report : CoverageReport
        Uncovered demand points (``report.uncovered``) and suggested sites
        (``report.sites``) are WGS-84 degrees.
    areas : dict
        GeoJSON FeatureCollection of subdistrict polygons, WGS-84 ``[lon, lat]``, from
        :func:`locator.formats.coverage.areas_collection` (properties ``name``,
        ``district_name``, ``covered_share`` (0–1 or None), ``uncovered_weight``).
    tiles : TileProvider
        Base map; everything is shifted to its datum for display.
    asset_url : callable (str) -> str
        Maps a path under ``static/`` to the URL the page loads it from.
    locale : str, default "zh"
        ``zh*`` for Chinese labels, anything else for English.

    Returns
    -------
    MapParts
        Three overlays in a layer control: the choropleth (SVG paths with class
        ``plan-area plan-share-<class>``, classes of :data:`SHARE_CLASSES`, ``-1`` for
        no demand; a tooltip with name, district, covered share and uncovered weight),
        the uncovered demand as a Leaflet.markercluster layer of circle markers (class
        ``plan-gap``; a tooltip with the name, if any, and the weight) and the suggested
        sites as numbered markers (``div.plan-site`` with ``data-rank`` and ``data-gain``)
        with their gain; gap badges and sites are drawn inside 44 x 44 px tap targets;
        a legend; the view fits the areas holding demand, else the
        sites, else Beijing. Every data string is escaped
        with :func:`escape_text`; weights are never called riders.

    Raises
    ------
    ValueError
        On invalid coordinates or a malformed ``areas``.
    """
    if not isinstance(areas, dict) or areas.get("type") != "FeatureCollection":
        raise ValueError("areas must be a GeoJSON FeatureCollection dict")
    m = _new_map(tiles, asset_url, locale, demo=report.demo)
    m.options["prefer_canvas"] = False  # SVG paths: the choropleth's classes stay in the DOM
    m.default_css = [*m.default_css, ("plan_map_css", asset_url(PLAN_MAP_CSS))]
    points: list[list[float]] = []

    features = []
    for feature in areas.get("features") or []:
        props = feature.get("properties") or {}
        share = props.get("covered_share")
        cls = share_class(share)
        fill = SHARE_CLASSES[cls][1] if cls >= 0 else _NO_DEMAND_FILL
        geometry = _display_geometry(feature["geometry"], tiles.datum)
        if cls >= 0:
            points.extend(_leaflet_points(geometry["coordinates"]))
        name = escape_text(props.get("name", ""))
        district = escape_text(props.get("district_name", ""))
        if share is None:
            detail = escape_text(_PLAN_TEXT["no_demand"].get(locale))
        else:
            detail = escape_text(_PLAN_TEXT["share"].get(locale).format(_percent(float(share))))
            detail += "<br>" + escape_text(
                _PLAN_TEXT["uncovered_weight"]
                .get(locale)
                .format(f"{float(props.get('uncovered_weight', 0)):,.0f}")
            )
        features.append(
            {
                "type": "Feature",
                "geometry": geometry,
                "properties": {
                    "tip": f"<strong>{name}</strong> {district}<br>{detail}",
                    "style": {
                        "className": f"plan-area plan-share-{cls}",
                        "color": "#495057",
                        "weight": 0.8,
                        "opacity": 0.8,
                        "fillColor": fill,
                        "fillOpacity": 0.55 if cls >= 0 else 0.25,
                    },
                },
            }
        )
    _GeoJsonLayer(
        {"type": "FeatureCollection", "features": features},
        name=escape_text(_PLAN_TEXT["areas"].get(locale)),
    ).add_to(m)

    u = report.uncovered
    rows: list[list[Any]] = []
    for i in range(len(u)):
        lat, lon = _display(float(u.lon[i]), float(u.lat[i]), tiles.datum)
        row: list[Any] = [lat, lon, round(float(u.weight[i]), 3)]
        if u.name[i]:
            row.append(escape_text(u.name[i]))
        rows.append(row)
    gaps = _KindCluster(
        rows,
        _gap_callback(locale),
        name=f"{escape_text(_PLAN_TEXT['uncovered'].get(locale))} ({len(rows):,})",
        icon_create_function=_gap_icon_function(),
        chunked_loading=True,
        show_coverage_on_hover=False,
    )
    _use_assets(
        gaps, asset_url, js=["markercluster_js"], css=["markercluster_css", "markercluster_default_css"]
    )
    gaps.add_to(m)

    sites = folium.FeatureGroup(name=escape_text(_PLAN_TEXT["sites"].get(locale)), overlay=True, control=True)
    site_points = []
    for s in report.sites:
        where = _display(s.lon, s.lat, tiles.datum)
        site_points.append(where)
        title = escape_text(_PLAN_TEXT["site"].get(locale).format(s.rank))
        gain = escape_text(_PLAN_TEXT["gain"].get(locale).format(f"{s.gain:,.0f}"))
        label = escape_text(s.name or s.category)
        html = (
            f'<div class="plan-site" data-rank="{int(s.rank)}" data-gain="{s.gain:.3f}" '
            f'aria-label="{title}: {gain}"><span>{int(s.rank)}</span></div>'
        )
        marker = folium.Marker(
            location=where,
            icon=folium.DivIcon(**_snake(_icon_options(html, _TARGET_PX))),  # a 28 px disc inside
            tooltip=folium.Tooltip(f"{title} · {gain}", sticky=False, direction="top"),
            z_index_offset=1000,
        )
        marker.add_child(
            _HtmlPopup(
                f'<div class="locator-popup"><strong>{title}</strong>'
                f"<span>{label}</span><span>{gain}</span></div>"
            )
        )
        marker.add_to(sites)
    sites.add_to(m)

    m.add_child(_Legend(_legend_html(locale)))
    # Collapsed, like the city map's: opened, its three 44 px rows would cover the top of a
    # phone's map (the legend already names the classes).
    folium.LayerControl(collapsed=True).add_to(m)
    _fit(m, points or site_points)
    return _render(m)


def _leaflet_points(coords: Any) -> list[list[float]]:
    """Every vertex of GeoJSON coordinates as Leaflet ``[lat, lon]``."""
    if coords and isinstance(coords[0], int | float):
        return [to_leaflet(coords[0], coords[1])]
    out: list[list[float]] = []
    for c in coords:
        out.extend(_leaflet_points(c))
    return out


# --- standalone pages ---------------------------------------------------------------------

_CSS_URL_RE: Final = re.compile(r"url\((['\"]?)(images/[A-Za-z0-9_.-]+\.png)\1\)")
_MIME: Final = {".js": "text/javascript", ".css": "text/css", ".png": "image/png"}


def inline_asset_url(static_root: Path) -> Callable[[str], str]:
    """An ``asset_url`` that inlines each asset as a ``data:`` URI, for a self-contained HTML file.

    Parameters
    ----------
    static_root : Path
        The ``static/`` folder. Only the files of :data:`ASSETS` and
        :data:`PLAN_MAP_CSS` are used; the
        ``images/*.png`` a stylesheet refers to are inlined into it as well.

    Returns
    -------
    callable (str) -> str
        Maps a path under ``static/`` to a base64 ``data:`` URI of the file.

    Raises
    ------
    ValueError
        For any other path (nothing else may be inlined).
    """
    allowed = {*ASSETS.values(), PLAN_MAP_CSS}

    def data_uri(path: Path, mime: str, body: bytes) -> str:
        return f"data:{mime};base64,{base64.b64encode(body).decode('ascii')}"

    def url(rel: str) -> str:
        if rel not in allowed:
            raise ValueError(f"not a map asset: {rel!r}")
        path = static_root / rel
        body = path.read_bytes()
        if path.suffix == ".css":
            text = body.decode("utf-8")

            def image(mt: re.Match[str]) -> str:
                img = path.parent / mt.group(2)
                return f"url({data_uri(img, 'image/png', img.read_bytes())})"

            body = _CSS_URL_RE.sub(image, text).encode("utf-8")
        return data_uri(path, _MIME[path.suffix], body)

    return url


def standalone_page(parts: MapParts, *, title: str, locale: str = "zh", intro_html: str = "") -> str:
    """A complete HTML document holding one map (for ``--out FILE.html``).

    Parameters
    ----------
    parts : MapParts
        Built with :func:`inline_asset_url` so the file needs no server and no CDN
        (only the tile server is contacted).
    title : str
        Plain text, escaped here.
    locale : str
        ``zh*`` gives ``lang="zh-CN"``, else ``en``.
    intro_html : str
        Trusted HTML shown above the map (escape any data in it first).

    Returns
    -------
    str
        UTF-8 HTML; the map fills the window below the intro.
    """
    lang = "zh-CN" if locale.lower().startswith("zh") else "en"
    return (
        "<!doctype html>\n"
        f'<html lang="{lang}">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape_text(title)}</title>\n{parts.header}\n"
        "<style>html,body{margin:0;height:100%;font-family:system-ui,sans-serif}"
        ".plan-intro{padding:.5rem 1rem}.plan-map{height:80vh}</style>\n</head>\n<body>\n"
        f'<div class="plan-intro"><h1>{escape_text(title)}</h1>{intro_html}</div>\n'
        f'<div class="plan-map">{parts.html}</div>\n{parts.script}\n</body>\n</html>\n'
    )
