"""Who may talk to the API from a browser: the Host and Origin checks, and no framing.

Without a token the API trusts whoever reaches 127.0.0.1, and a web page can reach it too: by DNS
rebinding (its own name resolving to 127.0.0.1, so the browser calls it same-origin and lets the
page read /status or PUT /api/hotwords), or by a plain cross-site form post. So, token or not:

- a `Host` that is not a loopback name or address, the bind address, the address the connection
  came in on, or a name in `api.allowed_hosts` gets 400 (a rebinding page always sends its own name);
- a request carrying an `Origin` other than the server's own gets 403 (a browser adds `Origin` to
  every cross-site request that can change anything, and to any request a page's script makes);
- every answer says it may not be framed, so no page can overlay the console to steal clicks.

`/health` stays open to any Host, for probes that send whatever name they were given.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from voiceloop.api.errors import json_error

FRAME_HEADERS = [(b"x-frame-options", b"DENY"), (b"content-security-policy", b"frame-ancestors 'none'")]
OPEN_PATHS = ("/health",)
_LOOPBACK_NAMES = ("localhost", "localhost.")


def split_host(value: str) -> tuple[str, int | None] | None:
    """`host[:port]` or `[v6][:port]` -> (lowercased host without brackets, port); None if malformed."""
    try:
        parts = urlsplit(f"//{value}")
        return (parts.hostname or "").lower(), parts.port
    except ValueError:
        return None


def _is_loopback(host: str) -> bool:
    if host in _LOOPBACK_NAMES or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class HostOriginGuard:
    """ASGI middleware: refuse foreign Host and Origin headers before anything runs; add the
    anti-framing headers to every answer."""

    def __init__(self, app: ASGIApp, bind_host: str, allowed_hosts: tuple[str, ...]):
        self.app = app
        self._known = {parts[0] for h in (bind_host, *allowed_hosts) if (parts := split_host(h.strip()))}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def framed_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *FRAME_HEADERS]}
            await send(message)

        problem = None if scope["path"] in OPEN_PATHS else self._problem(scope)
        if problem is not None:
            return await json_error(*problem)(scope, receive, framed_send)
        await self.app(scope, receive, framed_send)

    def _problem(self, scope: Scope) -> tuple[int, str, str] | None:
        headers = dict(scope["headers"])
        raw_host = headers.get(b"host", b"").decode("latin-1")
        host = split_host(raw_host)
        if host is None or not self._host_allowed(host[0], scope):
            return (400, f"Host {raw_host!r} not allowed; add it to api.allowed_hosts if this server is meant "
                         "to be reached by that name", "host_not_allowed")
        origin = headers.get(b"origin")
        if origin is not None and not _same_origin(origin.decode("latin-1"), raw_host):
            return (403, f"requests from the web page at {origin.decode('latin-1')!r} are refused: only the "
                         "console served here may call this API from a browser", "origin_not_allowed")
        return None

    def _host_allowed(self, host: str, scope: Scope) -> bool:
        if not host:
            return False
        if host in self._known or _is_loopback(host):
            return True
        server = scope.get("server")  # an address literal naming the very socket it came in on
        return bool(server) and host == str(server[0]).lower()


def _same_origin(origin: str, raw_host: str) -> bool:
    """Whether `Origin` names the host and port the request was sent to (the scheme may differ
    behind a TLS proxy, so only host and port are compared, default ports filled in)."""
    try:
        parts = urlsplit(origin)
        origin_port = parts.port
    except ValueError:
        return False
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return False
    default = 443 if parts.scheme == "https" else 80
    host = split_host(raw_host)
    if host is None:
        return False
    return (parts.hostname.lower() == host[0]
            and (origin_port or default) == (host[1] or default))
