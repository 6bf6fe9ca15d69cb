"""Every app-wide request hook, in one ordered list.

Flask runs ``before_request`` functions in registration order and stops at the first
that returns a response; ``after_request`` functions run in *reverse* registration
order. Extensions register their own hooks in ``init_app``, so with several of them the
order used to follow the order of the ``init_app`` calls — and a ``304`` from the
conditional-GET hook was answered before the rate limiter had counted the request.

:func:`register_hooks` ends that: it takes the hooks the extensions registered, checks
that nothing unknown was registered, and installs :data:`BEFORE` and :data:`AFTER` in
the order written below (``AFTER`` is written in the order the functions *run*).
``tests/test_hooks.py`` pins both lists.

Before the view
    0. the request timer (for the metrics);
    1. the request-body cap of the route (:mod:`locator.http.bodies`): a body that is
       too large is refused before anything reads it;
    2. the partner's API key (``X-API-Key``): the rate limits below are per partner;
    3. rate limits: every public API request is counted here, before anything may
       answer early (:func:`locator.http.access.count_request`; rider feedback is
       counted by its Flask-Limiter decorator, in the view — Flask-Limiter's own
       ``before_request`` check evaluates app-wide and blueprint limits, of which
       there are none, so it is not installed);
    4. the CSRF token on writes (Flask-WTF);
    5. a conditional ``GET /api/v1/nearest`` answered ``304`` without querying.

After the view (in this order)
    1. rate-limit headers (the public API's allowance, else Flask-Limiter's for rider
       feedback, which also deducts the feedback counted after the answer),
    2. ``Retry-After`` only on 429/503, 3. a partner's daily-quota headers,
    4. CORS for registered partner origins,
    5. HTTP caching (``Cache-Control``, ``ETag``, ``304``), 6. private answers
    (``Cache-Control: private, no-store`` for per-user responses), 7. security headers,
    8. the language cookie, 9. Flask-Login's remember cookie, 10. compression (so that it
    compresses the final body), 11. the request metrics (last: the whole server time).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from flask import Flask, Response, current_app, request
from flask_limiter import Limiter

from locator.http import access, bodies, caching, i18n, metrics, security
from locator.http.auth import csrf, login_manager
from locator.http.compression import compress
from locator.http.limits import allowance


def csrf_protect() -> None:
    """Check the CSRF token of a write (Flask-WTF's own check, with its exemptions).

    Reads and other methods outside ``WTF_CSRF_METHODS`` return at once (Flask-WTF
    would look up the view's exemptions first).
    """
    config = current_app.config
    if request.method not in config["WTF_CSRF_METHODS"]:
        return
    if config.get("WTF_CSRF_ENABLED", True) and config.get("WTF_CSRF_CHECK_DEFAULT", True):
        csrf.protect(apply_exemptions=True)


def _remembered(ensure_sync: Callable[[Callable[..., Any]], Callable[..., Any]]) -> Callable[..., Any]:
    """Flask's ``ensure_sync``, remembered per function.

    Flask calls it for every hook and view of every request (about 17 times a request
    here), and each call inspects the function's code flags to see whether it is a
    coroutine function; the answer never changes for a function.
    """
    seen: dict[Callable[..., Any], Callable[..., Any]] = {}

    def remembered(func: Callable[..., Any]) -> Callable[..., Any]:
        try:
            return seen[func]
        except KeyError:
            wrapped = seen[func] = ensure_sync(func)
            return wrapped
        except TypeError:  # an unhashable callable
            return ensure_sync(func)

    return remembered


def rate_limit_headers(limiter_headers: Callable[[Response], Response]) -> Callable[[Response], Response]:
    """The ``after_request`` hook for ``X-RateLimit-*``: the allowance's, else Flask-Limiter's.

    A public API request counted by :func:`locator.http.access.count_request` gets the
    allowance's headers; any other request goes to Flask-Limiter's hook
    (``limiter_headers``), which adds the headers of a decorated limit (rider feedback)
    and deducts what was counted after the answer (``deduct_when``).
    """

    def headers(resp: Response) -> Response:
        counted = access.counted_request()
        if counted is None:
            return limiter_headers(resp)
        allowance().headers(resp, counted)
        return resp

    headers.limiter_headers = limiter_headers  # type: ignore[attr-defined]
    return headers


@dataclass(frozen=True, slots=True)
class Hook:
    """One named hook."""

    name: str
    func: Callable[..., Any]


def _is_limiter_check(f: Any) -> bool:
    return getattr(f, "__func__", None) is Limiter._check_request_limit


def _is_limiter_headers(f: Any) -> bool:
    return isinstance(f, partial) and getattr(f.func, "__name__", "").endswith("__inject_headers")


def _is_wtf_closure(f: Any) -> bool:
    return getattr(f, "__qualname__", "") == "CSRFProtect.init_app.<locals>.csrf_protect"


def _take(funcs: list[Any], match: Callable[[Any], bool], what: str) -> Any:
    found = [f for f in funcs if match(f)]
    if len(found) != 1:
        raise RuntimeError(f"expected exactly one {what} hook, found {len(found)}")
    funcs.remove(found[0])
    return found[0]


def _installed(app: Flask) -> set[Any]:
    """The hooks a previous :func:`register_hooks` call installed (none the first time)."""
    previous = app.extensions.get("locator.hooks", ([], []))
    return {h.func for hooks in previous for h in hooks}


def _extension_after_hooks() -> list[Any]:
    return [login_manager._update_remember_cookie, compress.after_request]


def register_hooks(app: Flask) -> tuple[list[Hook], list[Hook]]:
    """Install every app-wide hook in the documented order (see the module docstring).

    Call after every extension's ``init_app``.

    Returns
    -------
    before, after : list of Hook
        In the order they run; also kept as ``app.extensions["locator.hooks"]``.

    Raises
    ------
    RuntimeError
        If an extension registered a hook this module does not know (a new extension
        must be placed in the lists explicitly).
    """
    ours = _installed(app)
    registered_before = [f for f in app.before_request_funcs.get(None, []) if f not in ours]
    registered_after = [f for f in app.after_request_funcs.get(None, []) if f not in ours]
    # On a second call the extensions' hooks are already in place: put them back to be taken.
    registered_after += [f for f in ours if f in _extension_after_hooks()]
    registered_after += [f.limiter_headers for f in ours if hasattr(f, "limiter_headers")]
    if not any(f is access.count_request for f in ours):
        _take(registered_before, _is_limiter_check, "Flask-Limiter check")  # see the module docstring
    if not any(f is csrf_protect for f in ours):
        _take(registered_before, _is_wtf_closure, "Flask-WTF CSRF")  # replaced by csrf_protect
    limiter_headers = _take(registered_after, _is_limiter_headers, "Flask-Limiter headers")
    remember_cookie = _take(
        registered_after, lambda f: f == login_manager._update_remember_cookie, "Flask-Login"
    )
    compression = _take(registered_after, lambda f: f == compress.after_request, "Flask-Compress")
    if registered_before or registered_after:
        unknown = [getattr(f, "__qualname__", repr(f)) for f in registered_before + registered_after]
        raise RuntimeError(f"unordered app-wide hooks: {unknown}; add them to locator.http.hooks")
    before = [
        Hook("request timer", metrics.start_timer),
        Hook("request body cap", bodies.cap_request_body),
        Hook("partner API key", access.authenticate),
        Hook("rate limits", access.count_request),
        Hook("CSRF token", csrf_protect),
        Hook("conditional nearest (304)", caching.precondition),
    ]
    after = [
        Hook("rate-limit headers", rate_limit_headers(limiter_headers)),
        Hook("Retry-After only on 429/503", access.retry_after_only_on_429),
        Hook("partner quota headers", access.quota_headers),
        Hook("CORS", access.cors),
        Hook("HTTP caching", caching.caching),
        Hook("private answers", security.private_answers),
        Hook("security headers", security.security_headers),
        Hook("language cookie", i18n.remember_choice),
        Hook("remember-me cookie", remember_cookie),
        Hook("compression", compression),
        Hook("request metrics", metrics.observe),
    ]
    app.before_request_funcs[None] = [h.func for h in before]
    app.after_request_funcs[None] = [h.func for h in reversed(after)]
    if "ensure_sync" not in vars(app):
        app.ensure_sync = _remembered(app.ensure_sync)  # type: ignore[method-assign]
    app.extensions["locator.hooks"] = (before, after)
    return before, after
