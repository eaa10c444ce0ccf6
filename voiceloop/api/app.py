"""The FastAPI app: routes, auth, upload limit, lingering close, request metrics, and errors in the
OpenAI shape."""

from __future__ import annotations

import logging
import time
from importlib import resources

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from voiceloop import __version__
from voiceloop.api import speech, system, transcriptions
from voiceloop.api.auth import BearerAuth
from voiceloop.api.context import ApiContext
from voiceloop.api.errors import json_error
from voiceloop.api.hostguard import HostOriginGuard
from voiceloop.api.lingering import LingeringClose
from voiceloop.api.metrics import Metrics
from voiceloop.api.slowclients import BodyDeadline, BodyTooSlow
from voiceloop.api.uploads import UploadLimit
from voiceloop.asr.segments import Abandoned
from voiceloop.audio.decode import AudioTooLong
from voiceloop.engines.scheduler import EngineBusy
from voiceloop.errors import AudioDecodeError, TtsError

log = logging.getLogger(__name__)


def create_app(ctx: ApiContext, token: str | None) -> FastAPI:
    """One app per context; `token` None leaves it open (only allowed on loopback, see auth.check_bind)."""
    # No /docs or /redoc: their pages load scripts from a CDN, and the box may be offline.
    app = FastAPI(title="voiceloop", version=__version__, docs_url=None, redoc_url=None,
                  description="OpenAI-compatible speech API of the voiceloop assistant, and its web console.")
    app.state.ctx = ctx
    for router in (transcriptions.router, speech.router, system.router):
        app.include_router(router)
    static = resources.files("voiceloop.api") / "static"
    app.mount("/console", StaticFiles(directory=str(static), html=True), name="console")

    @app.get("/", include_in_schema=False)
    async def root() -> RedirectResponse:
        return RedirectResponse("/console/")

    _add_error_handlers(app)
    app.add_middleware(UploadLimit, max_bytes=int(ctx.cfg.api.max_upload_mb * 2**20))
    app.add_middleware(BearerAuth, token=token)
    app.add_middleware(HostOriginGuard, bind_host=ctx.cfg.api.host, allowed_hosts=ctx.cfg.api.allowed_hosts)
    app.add_middleware(RequestMetrics, metrics=ctx.metrics)
    app.add_middleware(LingeringClose)
    app.add_middleware(BodyDeadline)
    return app


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(BodyTooSlow)
    async def too_slow(request: Request, exc: BodyTooSlow):
        return json_error(408, f"{exc.detail}; the connection is closed", "request_timeout", headers=exc.headers)

    @app.exception_handler(AudioTooLong)
    async def too_long(request: Request, exc: AudioTooLong):
        return json_error(413, str(exc), "audio_too_long")

    @app.exception_handler(AudioDecodeError)
    async def bad_audio(request: Request, exc: AudioDecodeError):
        return json_error(400, f"unreadable audio: {exc}", "unreadable_audio")

    @app.exception_handler(EngineBusy)
    async def busy(request: Request, exc: EngineBusy):
        return json_error(503, str(exc), "engine_busy", headers={"Retry-After": str(exc.retry_after_s)})

    @app.exception_handler(TtsError)
    async def tts_failed(request: Request, exc: TtsError):
        return json_error(503, f"no voice could speak: {exc}", "tts_failed", headers={"Retry-After": "10"})

    @app.exception_handler(Abandoned)
    async def abandoned(request: Request, exc: Abandoned):
        log.info("%s %s: the client went away; %s", request.method, request.url.path, exc)
        return json_error(499, f"client closed the request; {exc}", "client_closed")

    @app.exception_handler(ValueError)
    async def bad_value(request: Request, exc: ValueError):
        return json_error(400, str(exc), "invalid_value")

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError):
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'][1:]) or e['loc'][0]}: {e['msg']}"
                             for e in exc.errors())
        return json_error(400, f"invalid request: {problems}", "invalid_request")

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException):
        return json_error(exc.status_code, str(exc.detail), None, headers=exc.headers)

    @app.exception_handler(Exception)
    async def crashed(request: Request, exc: Exception):
        log.exception("%s %s failed", request.method, request.url.path)
        # The exception's text can hold paths and internals: it goes to the server's log only.
        return json_error(500, "internal error; the server's log has the details", "internal_error")


class RequestMetrics:
    """ASGI middleware counting requests by route template (not raw path) and status."""

    def __init__(self, app: ASGIApp, metrics: Metrics):
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = scope.get("route")
            endpoint = getattr(route, "path", None) or ("/console" if scope["path"].startswith("/console") else "other")
            self.metrics.requests.labels(endpoint, scope["method"], str(status)).inc()
            self.metrics.request_seconds.labels(endpoint).observe(time.perf_counter() - started)
