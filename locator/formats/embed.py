"""The copy-paste ``<iframe>`` snippet partners put on their pages (``/embed/map``)."""

from __future__ import annotations

from urllib.parse import urlencode

from markupsafe import escape

#: Default iframe height, CSS pixels.
SNIPPET_HEIGHT = 480


def snippet(
    base_url: str,
    partner: str | None = None,
    *,
    kind: str | None = None,
    amenity: str | None = None,
    lon: float | None = None,
    lat: float | None = None,
    zoom: int | None = None,
    lang: str | None = None,
    height: int = SNIPPET_HEIGHT,
) -> str:
    """The copy-paste ``<iframe>`` for a partner page.

    Parameters
    ----------
    base_url : str
        This site's public base URL, e.g. ``https://locator.example.cn``.
    partner : str, optional
        The partner's name; its registered origins are the only ones allowed to frame it.
    kind, amenity : str, optional
        Comma-separated filters (see the API).
    lon, lat : float, optional
        Where to search from before the rider shares a position (WGS-84 degrees).
    zoom : int, optional
        Map zoom level (3–18); default: fitted to the results.
    lang : str, optional
        ``zh`` or ``en``.
    height : int
        Iframe height in CSS pixels.

    Returns
    -------
    str
        HTML, every attribute value escaped.
    """
    params = {
        k: v
        for k, v in (
            ("partner", partner),
            ("kind", kind),
            ("amenity", amenity),
            ("lon", None if lon is None else f"{lon:.4f}"),
            ("lat", None if lat is None else f"{lat:.4f}"),
            ("zoom", None if zoom is None else str(zoom)),
            ("lang", lang),
        )
        if v
    }
    src = base_url.rstrip("/") + "/embed/map" + ("?" + urlencode(params) if params else "")
    title = "暖心驿站地图 · Warm stations map"
    return (
        f'<iframe src="{escape(src)}" title="{escape(title)}" width="100%" height="{int(height)}" '
        'style="border:0;max-width:100%" loading="lazy" allow="geolocation" '
        'referrerpolicy="strict-origin-when-cross-origin"></iframe>'
    )
