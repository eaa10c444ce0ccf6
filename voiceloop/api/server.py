"""Serve the API with uvicorn inside the caller's event loop: `voiceloop serve`, or beside the dialogue.

The socket is bound here, before uvicorn starts, so "port in use" becomes one clear error naming
the port and the key to change (uvicorn itself would log and `sys.exit`), and port 0 works for
tests. uvicorn's own signal handling is off: the owner of the loop decides when to stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path

import uvicorn

from voiceloop.api.auth import api_token, check_bind
from voiceloop.api.context import ApiContext
from voiceloop.api.slowclients import MAX_CONNECTIONS, HeadDeadlineProtocol
from voiceloop.config import ApiConfig, Config, LlmConfig
from voiceloop.engines import Engines
from voiceloop.errors import ConfigError
from voiceloop.lifecycle import run_until_signal

log = logging.getLogger("voiceloop.api")


def bind_socket(cfg: ApiConfig) -> socket.socket:
    """A listening socket on api.host:api.port, or ConfigError saying what to change."""
    try:
        infos = socket.getaddrinfo(cfg.host, cfg.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise ConfigError(f"api.host {cfg.host!r}: cannot resolve ({exc.strerror}); use an IP address "
                          "such as 127.0.0.1 or 0.0.0.0") from None
    family, _, _, _, address = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise ConfigError(f"port {cfg.port} on {cfg.host} is already in use (by another voiceloop or another "
                              "program): stop it, or set api.port to a free port") from None
        raise ConfigError(f"cannot listen on {cfg.host}:{cfg.port} (api.host, api.port): "
                          f"{exc.strerror or exc}") from None
    sock.setblocking(False)
    return sock


class _EmbeddedServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self):  # the event loop's owner handles SIGINT/SIGTERM
        yield


@contextlib.asynccontextmanager
async def api_server(ctx: ApiContext, sock: socket.socket) -> AsyncIterator[str]:
    """Serve on `sock` while the block runs; yields the base URL. Stops gracefully on exit."""
    from voiceloop.api.app import create_app

    app = create_app(ctx, api_token(ctx.cfg.api))
    config = uvicorn.Config(app, log_config=None, access_log=False, timeout_graceful_shutdown=3,
                            lifespan="off", ws="none", http=HeadDeadlineProtocol,
                            limit_concurrency=MAX_CONNECTIONS, timeout_keep_alive=5)
    server = _EmbeddedServer(config)
    task = asyncio.create_task(server.serve(sockets=[sock]), name="api-server")
    host, port = sock.getsockname()[:2]
    url = f"http://{'[' + host + ']' if ':' in host else host}:{port}"
    try:
        while not server.started:
            if task.done():
                task.result()
                raise RuntimeError("the API server stopped while starting")
            await asyncio.sleep(0.02)
        log.info("API and web console on %s/ (token %s)", url, "required" if api_token(ctx.cfg.api) else "off")
        yield url
    finally:
        ctx.events.close()
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await task
        sock.close()


def prepare(cfg: Config) -> socket.socket:
    """Checks that must pass before a model is loaded: token for an open bind, a free port."""
    check_bind(cfg.api, api_token(cfg.api))
    return bind_socket(cfg.api)


class LlmProbe:
    """For /status: whether the LLM answers (None) or why not; asked at most once per `cache_s`,
    as an unreachable LLM costs its connect timeout, and by one request however many /status
    calls arrive meanwhile (they all await the same answer)."""

    def __init__(self, cfg: LlmConfig, cache_s: float = 10.0):
        self._cfg = cfg
        self._cache_s = cache_s
        self._problem: str | None = None
        self._when = -cache_s
        self._asking: asyncio.Future[str | None] | None = None

    async def __call__(self) -> str | None:
        if time.monotonic() - self._when < self._cache_s:
            return self._problem
        if self._asking is None:
            self._asking = asyncio.ensure_future(self._ask())
        return await asyncio.shield(self._asking)  # one caller leaving does not cancel the others' answer

    async def _ask(self) -> str | None:
        from voiceloop.llm.client import OpenAICompatibleClient

        client = OpenAICompatibleClient(self._cfg)
        try:
            self._problem, self._when = await client.probe(), time.monotonic()
        finally:
            self._asking = None
            await client.aclose()
        return self._problem


def serve_main(cfg: Config, config_file: Path | None) -> int:
    """`voiceloop serve`: the API and console alone, no audio devices, until SIGINT/SIGTERM."""
    from voiceloop.asr import create_engine
    from voiceloop.tts.fallback import create_synthesizer

    sock = prepare(cfg)
    log.info("loading %s ASR model (this can take a minute)", cfg.asr.engine)
    engines = Engines.shared(cfg, create_engine(cfg.asr), create_synthesizer(cfg.tts))
    return run_until_signal(lambda: _serve_forever(ApiContext(cfg, engines, config_file, mode="serve"), sock), log)


async def _serve_forever(ctx: ApiContext, sock: socket.socket) -> None:
    try:
        async with api_server(ctx, sock):
            await asyncio.Event().wait()
    finally:
        ctx.engines.close()
