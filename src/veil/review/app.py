"""The review app over HTTP (Starlette): a few JSON and picture routes, and the page.

Security, for a server that shows un-anonymized originals:

* **Token.** Every API request needs the session's random token in an
  ``X-Veil-Token`` header. The URL printed at start carries it once
  (``/?token=...``, checked here); the page keeps it in its origin's storage and
  drops it from the address bar. It is never a cookie: browsers send cookies to
  every port of a host, so another local server the browser visits would receive
  it. A custom header also makes any cross-site request a preflighted one, which
  this server never allows. Only the page and its static assets (no data) load
  without it; anything else without it gets 401.
* **Host header** must be an IP literal or ``localhost`` with the bound port:
  a DNS-rebinding page (``evil.example`` resolving to 127.0.0.1) is refused.
* **Origin.** A request that changes state (not GET/HEAD) needs an ``Origin``
  equal to the page's own; cross-site fetches are refused.
* **Headers.** A strict Content-Security-Policy (scripts, styles, pictures and
  requests from this origin only; no inline script, no frames), nosniff,
  no referrer, no caching.
* **Files by id.** Pictures are served by file number and frame index from the
  run's report, never by a path from the client; the page's own assets come
  from a fixed table. Nothing else exists (404), so ``..`` or an absolute path
  reaches nothing.
"""

from __future__ import annotations

import ipaddress
import json
import secrets
from importlib import resources
from urllib.parse import parse_qs

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..errors import VeilError
from .apply import Applier
from .session import Conflict, NotFound, Refused, ReviewSession

__all__ = ["create_app", "CSP", "TOKEN_HEADER"]

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob:; connect-src 'self'; "
       "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
_HEADERS = [(b"content-security-policy", CSP.encode()), (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", b"no-referrer"), (b"cache-control", b"no-store"),
            (b"x-frame-options", b"DENY"), (b"cross-origin-opener-policy", b"same-origin"),
            (b"cross-origin-resource-policy", b"same-origin")]
#: The page's assets: URL name -> (file in veil/review/static, media type).
_ASSETS = {"app.js": ("app.js", "text/javascript"), "app.css": ("app.css", "text/css"),
           "icon.svg": ("icon.svg", "image/svg+xml")}
_SAFE_METHODS = frozenset({"GET", "HEAD"})
#: The request header that carries the access token (lower case, as ASGI gives header names).
TOKEN_HEADER = "x-veil-token"
#: A PUT of edits larger than this is refused (413) before it is read whole: an edits file of
#: thousands of drawn key frames is a few MiB.
MAX_EDITS_BYTES = 32 << 20


def _asset(name: str) -> bytes:
    return resources.files("veil.review").joinpath("static", name).read_bytes()


class _Guard:
    """ASGI middleware: Host, token and Origin checks, and security headers on every response."""

    def __init__(self, app, *, token: str, port: int) -> None:
        self.app, self.token, self.port = app, token, port

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "websocket":  # none is served: refused before any check could be missed
            return await send({"type": "websocket.close", "code": 1008})
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_secured(message) -> None:
            if message["type"] == "http.response.start":
                message = dict(message, headers=list(message.get("headers", [])) + _HEADERS)
            await send(message)

        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        host = headers.get("host", "")
        if not self._host_ok(host):
            return await _plain(400, "unexpected Host header", scope, receive, send_secured)
        path = scope["path"]
        if path == "/":
            given = (parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token") or [""])[0]
            if given and not self._token_is(given):
                return await _plain(401, "wrong access token: open the URL veil review printed", scope, receive,
                                    send_secured)
        elif not path.startswith("/static/") and not self._token_is(headers.get(TOKEN_HEADER, "")):
            return await _plain(401, "open the URL veil review printed (it carries the access token)", scope,
                                receive, send_secured)
        if scope["method"] not in _SAFE_METHODS:
            origin = headers.get("origin")
            if origin != f"http://{host}" or headers.get("sec-fetch-site", "same-origin") != "same-origin":
                return await _plain(403, "cross-origin request refused", scope, receive, send_secured)
        return await self.app(scope, receive, send_secured)

    def _token_is(self, given: str) -> bool:
        # bytes: compare_digest refuses str with characters outside ASCII, which a client may send
        return secrets.compare_digest(given.encode("utf-8", "surrogateescape"), self.token.encode())

    def _host_ok(self, host: str) -> bool:
        if host.startswith("["):  # an IPv6 literal
            name, _, rest = host[1:].partition("]")
            port = rest[1:] if rest.startswith(":") else None if not rest else "?"
        else:
            name, sep, port = host.rpartition(":")
            name, port = (name, port) if sep else (host, None)
        # Browsers leave out port 80 (HTTP's own)
        if not name or (port or "80") != str(self.port):
            return False
        if name == "localhost":
            return True
        try:
            ipaddress.ip_address(name)
        except ValueError:
            return False
        return True


async def _plain(status: int, text: str, scope, receive, send) -> None:
    await Response(text + "\n", status_code=status, media_type="text/plain")(scope, receive, send)


def create_app(session: ReviewSession, *, token: str, port: int):
    """The ASGI app serving ``session``; requests must carry ``token`` and a Host with ``port``.

    Its ``applier`` attribute runs Apply (stop it before the session closes).
    """
    applier = Applier(session)

    def guarded(fn):
        def endpoint(request: Request):
            try:
                return fn(request)
            except NotFound as exc:
                return JSONResponse({"error": str(exc)}, status_code=404)
            except (Refused, VeilError) as exc:  # e.g. the report gone or unreadable since start
                return JSONResponse({"error": str(exc)}, status_code=422)
        return endpoint

    def fid(request: Request) -> int:
        return int(request.path_params["fid"])

    def index(request: Request):
        return Response(_asset("index.html"), media_type="text/html; charset=utf-8")

    def asset(request: Request):
        found = _ASSETS.get(request.path_params["name"])
        if found is None:
            raise NotFound("no such asset")
        return Response(_asset(found[0]), media_type=found[1])

    def run(request: Request):
        return JSONResponse(dict(session.overview(), apply=applier.status()))

    def file_model(request: Request):
        return JSONResponse(session.file_model(fid(request)))

    def boxes(request: Request):
        try:
            start, stop = int(request.query_params.get("start", 0)), int(request.query_params.get("stop", 0))
        except ValueError:
            raise NotFound("start and stop must be frame numbers") from None
        return JSONResponse(session.boxes(fid(request), start, stop))

    def thumbnail(request: Request):
        return Response(session.thumbnail(fid(request)), media_type="image/jpeg")

    def picture(request: Request):
        which = request.path_params["which"]
        if which not in ("input", "output"):
            raise NotFound("no such picture")
        index = int(request.path_params.get("frame", 0))
        return Response(session.picture(fid(request), which, index), media_type="image/jpeg")

    async def edits(request: Request):
        raw = bytearray()
        async for chunk in request.stream():  # read no more than an edits file can need
            raw += chunk
            if len(raw) > MAX_EDITS_BYTES:
                return JSONResponse({"error": f"edits over {MAX_EDITS_BYTES >> 20} MiB"}, status_code=413)
        try:
            body = json.loads(bytes(raw))
        except (ValueError, RecursionError):
            return JSONResponse({"error": "edits must be JSON"}, status_code=422)
        from starlette.concurrency import run_in_threadpool

        try:
            return JSONResponse(await run_in_threadpool(session.set_edits, fid(request), body))
        except NotFound as exc:
            return JSONResponse({"error": str(exc)}, status_code=404)
        except Conflict as exc:
            return JSONResponse({"error": str(exc), "conflict": True}, status_code=409)
        except Refused as exc:
            return JSONResponse({"error": str(exc)}, status_code=422)
        except (ValueError, TypeError, RecursionError) as exc:  # a box no picture has (NaN, 1e300), ...
            return JSONResponse({"error": f"edits not valid: {' '.join(str(exc).split())[:300]}"}, status_code=422)

    def apply_start(request: Request):
        started = applier.start()
        return JSONResponse(applier.status(), status_code=202 if started else 409)

    def apply_status(request: Request):
        return JSONResponse(applier.status())

    routes = [
        Route("/", index),
        Route("/static/{name}", guarded(asset)),
        Route("/api/run", guarded(run)),
        Route("/api/files/{fid:int}", guarded(file_model)),
        Route("/api/files/{fid:int}/boxes", guarded(boxes)),
        Route("/api/files/{fid:int}/thumb", guarded(thumbnail)),
        Route("/api/files/{fid:int}/{which}", guarded(picture)),
        Route("/api/files/{fid:int}/{which}/{frame:int}", guarded(picture)),
        Route("/api/files/{fid:int}/edits", edits, methods=["PUT"]),
        Route("/api/apply", apply_start, methods=["POST"]),
        Route("/api/apply", apply_status, methods=["GET"]),
    ]
    guard = _Guard(Starlette(routes=routes), token=token, port=port)
    guard.applier = applier
    return guard
