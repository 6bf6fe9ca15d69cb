"""Offline shortlist: the web app manifest and the service worker (``/sw.js``, scope ``/``).

What works offline (docs/riders.md):

* the app shell: the start page and the files under ``static/`` that rider pages use
  (not the API docs, the managers' or partners' pages, nor licence texts: see
  :data:`NOT_IN_SHELL`), cached when the service worker installs;
* saved searches: every ``/nearest`` and ``/lite`` page the rider opens is stored
  (network first, so online riders always get fresh data) with the facility pages of
  its list; the results page also asks the worker to store itself on its first visit,
  before the worker controlled it. Offline, a request is answered only with what
  matches it — a results page of the same path, kind, needs and "open now" from within
  250 m, or that facility's page — served with ``data-offline="1"`` on ``<html>``
  ("Offline: saved at HH:MM, may be out of date", HH:MM being when the server produced
  it, Beijing time). Anything else gets the offline page (:func:`offline_page`): this
  search is not saved, and a link to the last saved one.

The worker's cache name carries a hash of the static files and the worker template, so
any change to them installs a new shell and drops the old one.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from flask import Blueprint, Response, current_app, json, render_template, url_for

from locator.http.i18n import gettext as _
from locator.http.i18n import locale

bp = Blueprint("offline", __name__)

#: How many results pages the worker keeps (each with its facility pages).
RESULTS_KEPT = 5
#: How many facility pages of each saved list the worker fetches and keeps with it.
FACILITIES_KEPT = 10


#: Static paths (prefixes, relative to ``static/``) that riders never need offline.
NOT_IN_SHELL = (
    "vendor/swagger-ui/",
    "js/api-docs.js",
    "js/manage",
    "css/manage",
    "js/embed",
    "css/embed",
)
#: Licence and notice files shipped next to vendored code (served, never precached).
_NOTICE_NAMES = frozenset({"README.md", "LICENSE", "NOTICE", "package.json"})


def in_shell(relative: str) -> bool:
    """Whether the static file at ``relative`` (POSIX path under ``static/``) is precached."""
    name = relative.rsplit("/", 1)[-1]
    if name.startswith(".") or name in _NOTICE_NAMES or name.endswith((".txt", ".md")):
        return False
    return not relative.startswith(NOT_IN_SHELL)


def _static_files() -> list[Path]:
    root = Path(current_app.static_folder or "")
    return sorted(p for p in root.rglob("*") if p.is_file() and in_shell(p.relative_to(root).as_posix()))


def shell_version() -> str:
    """A short hash of every static file and of the worker template (cached per app)."""
    cached: str | None = current_app.extensions.get("locator.shell_version")
    if cached is None:
        h = hashlib.sha256()
        root = Path(current_app.static_folder or "")
        for p in _static_files():
            h.update(str(p.relative_to(root)).encode())
            h.update(p.read_bytes())
        template = Path(current_app.template_folder or "") / "sw.js"
        h.update(template.read_bytes())
        cached = h.hexdigest()[:12]
        current_app.extensions["locator.shell_version"] = cached
    return cached


@bp.get("/sw.js")
def service_worker() -> Response:
    """The service worker script, served from the root so that its scope is ``/``."""
    root = Path(current_app.static_folder or "")
    assets = [url_for("static", filename=p.relative_to(root).as_posix()) for p in _static_files()]
    body = render_template(
        "sw.js",
        version=shell_version(),
        shell_urls=[url_for("web.index"), url_for("offline.offline_page"), *assets],
        offline_url=url_for("offline.offline_page"),
        results_kept=RESULTS_KEPT,
        facilities_kept=FACILITIES_KEPT,
    )
    resp = Response(body, mimetype="text/javascript")
    resp.headers["Service-Worker-Allowed"] = "/"
    resp.headers["Cache-Control"] = "no-cache"
    return resp


@bp.get("/offline")
def offline_page() -> str:
    """What the service worker shows offline for a request it has no matching answer for.

    The worker puts a link to the last saved search in place of ``<!--last-saved-->``
    (kind, needs, place, time). Precached with the app shell, in the rider's language.
    """
    return render_template("offline.html")


@bp.get("/manifest.webmanifest")
def manifest() -> Response:
    """The web app manifest (name in the request's language)."""
    body = {
        "name": _("Warm station locator"),
        "short_name": _("Warm stations"),
        "description": _("Find the nearest open warm station, union home or nursing room in Beijing."),
        "lang": "zh-CN" if locale() == "zh" else "en",
        "start_url": url_for("web.index"),
        "scope": "/",
        "display": "standalone",
        "background_color": "#ffffff",
        "theme_color": "#b3261e",
        "icons": [
            {
                "src": url_for("static", filename="icons/icon.svg"),
                "sizes": "any",
                "type": "image/svg+xml",
                "purpose": "any",
            }
        ],
    }
    return Response(json.dumps(body, ensure_ascii=False), mimetype="application/manifest+json")
