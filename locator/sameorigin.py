"""Cross-site POST protection for anonymous forms (no session, no login).

Rider feedback needs no account, so there is no session to hang a CSRF token on. A
browser tells us where a POST comes from, and modern browsers always send at least one
of these on a cross-site POST, so we refuse a POST when

* ``Sec-Fetch-Site`` is present and is neither ``same-origin`` nor ``none``, or
* ``Origin`` is present and its host differs from ours (``Origin: null`` included), or
* there is no ``Origin`` but a ``Referer`` whose host differs from ours.

A request with none of the three headers comes from a non-browser client (curl, an
app), which cannot be abused by a third-party page, and is accepted. Hosts are
compared, not schemes, so a TLS-terminating proxy does not break it. The managers'
work adds Flask-WTF tokens for logged-in forms; this check stays for the anonymous
ones. (OWASP CSRF cheat sheet: "Verifying Origin with standard headers" and
"Fetch Metadata headers".)
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Request

from locator.errors import ForbiddenError


def check_same_origin(req: Request) -> None:
    """Raise :class:`ForbiddenError` if ``req`` looks like a cross-site POST (see above)."""
    ours = req.host.lower()
    site = req.headers.get("Sec-Fetch-Site")
    if site is not None and site.lower() not in {"same-origin", "none"}:
        raise ForbiddenError("cross-site posts are not accepted", param="Sec-Fetch-Site")
    origin = req.headers.get("Origin")
    if origin is not None:
        if origin.strip().lower() == "null" or urlsplit(origin).netloc.lower() != ours:
            raise ForbiddenError("cross-site posts are not accepted", param="Origin")
        return
    referer = req.headers.get("Referer")
    if referer and urlsplit(referer).netloc.lower() != ours:
        raise ForbiddenError("cross-site posts are not accepted", param="Referer")
