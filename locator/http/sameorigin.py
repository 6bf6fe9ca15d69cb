"""Cross-site POST protection for anonymous forms (no session, no login).

Rider feedback needs no account, so there is no session to hang a CSRF token on. A
browser tells us where a POST comes from, and modern browsers always send at least one
of these on a cross-site POST, so we refuse a POST when

* ``Sec-Fetch-Site`` is present and is neither ``same-origin`` nor ``none``, or
* ``Origin`` is present and its host differs from ours (``Origin: null`` included), or
* there is no ``Origin`` but a ``Referer`` whose host differs from ours.

A request with none of the three headers comes from a non-browser client (curl, an
app), which cannot be abused by a third-party page, and is accepted. Hosts are
compared, not schemes, so a TLS-terminating proxy does not break it. (OWASP CSRF
cheat sheet: "Verifying Origin with standard headers" and "Fetch Metadata headers".)

Every other write carries Flask-WTF's session token (:mod:`locator.http.auth`). A view
decorated with :func:`anonymous_write` is the only exception: it is exempt from the
token (a rider has no session whose authority a forged request could borrow, and the
lite pages and the offline shortlist must work without one) and guarded by
:func:`check_same_origin` instead. ``tests/test_csrf.py`` checks that every write
route is one or the other.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import ParamSpec, TypeVar
from urllib.parse import urlsplit

from flask import Request, request

from locator.errors import ForbiddenError, Msg
from locator.http.auth import csrf

P = ParamSpec("P")
R = TypeVar("R")


def check_same_origin(req: Request) -> None:
    """Raise :class:`ForbiddenError` if ``req`` looks like a cross-site POST (see above)."""
    ours = req.host.lower()
    site = req.headers.get("Sec-Fetch-Site")
    if site is not None and site.lower() not in {"same-origin", "none"}:
        raise ForbiddenError(Msg("cross-site posts are not accepted"), param="Sec-Fetch-Site")
    origin = req.headers.get("Origin")
    if origin is not None:
        if origin.strip().lower() == "null" or urlsplit(origin).netloc.lower() != ours:
            raise ForbiddenError(Msg("cross-site posts are not accepted"), param="Origin")
        return
    referer = req.headers.get("Referer")
    if referer and urlsplit(referer).netloc.lower() != ours:
        raise ForbiddenError(Msg("cross-site posts are not accepted"), param="Referer")


def anonymous_write(view: Callable[P, R]) -> Callable[P, R]:
    """Decorate a view that accepts anonymous writes (see the module docstring).

    The view is exempt from the CSRF token and runs only for same-origin (or
    non-browser) requests; a cross-site POST gets 403 before the view runs. The
    wrapper carries ``anonymous_write = True`` for the route audit in the tests.
    """

    @wraps(view)
    def guarded(*args: P.args, **kwargs: P.kwargs) -> R:
        check_same_origin(request)
        return view(*args, **kwargs)

    guarded.anonymous_write = True  # type: ignore[attr-defined]
    return csrf.exempt(guarded)
