"""Closed by default: loopback unless configured otherwise, and then only with a bearer token."""

from __future__ import annotations

import hmac
import os

from starlette.types import ASGIApp, Receive, Scope, Send

from voiceloop.api.errors import json_error
from voiceloop.config import ApiConfig
from voiceloop.errors import ConfigError
from voiceloop.netaddr import is_loopback

# Readable without a token: liveness, and the console's static files (they hold no data; the
# console asks for the token and sends it with every API call).
OPEN_PATHS = ("/health",)
OPEN_PREFIXES = ("/console/",)
OPEN_EXACT_GET = ("/", "/console", "/favicon.ico")


def api_token(cfg: ApiConfig) -> str | None:
    return os.environ.get(cfg.token_env, "").strip() or None


def check_bind(cfg: ApiConfig, token: str | None) -> None:
    """Refuse to listen beyond loopback without a token (ConfigError names the fix)."""
    if token is None and not is_loopback(cfg.host):
        raise ConfigError(
            f"api.host is {cfg.host!r}, beyond loopback, but no API token is set: set the environment "
            f"variable {cfg.token_env} (named by api.token_env) to a long random secret, e.g. "
            f"`export {cfg.token_env}=$(openssl rand -hex 32)`, or set api.host: 127.0.0.1")


class BearerAuth:
    """ASGI middleware: 401 before anything else runs unless `Authorization: Bearer <token>` matches."""

    def __init__(self, app: ASGIApp, token: str | None):
        self.app = app
        self._token = token.encode() if token else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._token is None or scope["type"] not in ("http", "websocket") or _is_open(scope):
            return await self.app(scope, receive, send)
        given = dict(scope["headers"]).get(b"authorization", b"")
        scheme, _, value = given.partition(b" ")
        if scheme.lower() == b"bearer" and hmac.compare_digest(value.strip(), self._token):
            return await self.app(scope, receive, send)
        message = "missing bearer token" if not given else "wrong bearer token"
        response = json_error(401, f"{message}: send `Authorization: Bearer <token>` with the token from "
                                   "the server's API token environment variable (api.token_env)",
                              "invalid_api_key", headers={"WWW-Authenticate": "Bearer"})
        await response(scope, receive, send)


def _is_open(scope: Scope) -> bool:
    path = scope["path"]
    if scope.get("method") not in ("GET", "HEAD"):
        return False
    return path in OPEN_PATHS or path in OPEN_EXACT_GET or path.startswith(OPEN_PREFIXES)
