"""Health, status, models, metrics, the event stream, and the console's system and settings data."""

from __future__ import annotations

import asyncio
import dataclasses
import time

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, StreamingResponse
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import BaseModel, Field

from voiceloop.api.context import ApiContext
from voiceloop.engines.hotwords import MAX_HOTWORDS

router = APIRouter()


def _ctx(request: Request) -> ApiContext:
    return request.app.state.ctx


@router.get("/health", tags=["system"])
async def health() -> dict:
    """Liveness; needs no token."""
    return {"status": "ok"}


@router.get("/v1/models", tags=["system"])
async def models(request: Request) -> dict:
    ctx = _ctx(request)
    asr = ctx.engines.asr.info()
    asr_models = [m.name for m in asr.models if m.role == "asr"] or [asr.engine]
    ids = [*asr_models, f"tts-{ctx.engines.tts.name}"]
    return {"object": "list",
            "data": [{"id": i, "object": "model", "created": 0, "owned_by": "voiceloop"} for i in ids]}


@router.get("/status", tags=["system"])
async def status(request: Request) -> dict:
    ctx = _ctx(request)
    cfg = ctx.cfg
    asr = ctx.engines.asr.info()
    tts = ctx.engines.tts
    llm = None
    if ctx.llm_probe is not None:
        problem = await ctx.llm_probe()
        llm = {"base_url": cfg.llm.base_url, "model": cfg.llm.model, "reachable": problem is None, "problem": problem}
    jobs = dataclasses.asdict(ctx.engines.asr_jobs.stats())
    return {
        "mode": ctx.mode,
        "state": ctx.events.state["state"] if ctx.events.state else ("no dialogue" if ctx.mode == "serve" else "starting"),
        "devices": ({"input": cfg.audio.input_device or "default", "output": cfg.audio.output_device or "default"}
                    if ctx.mode == "run" else None),
        "asr": {"engine": asr.engine, "device": asr.device, "models": [dataclasses.asdict(m) for m in asr.models],
                "jobs": jobs},
        "tts": {"engine": tts.name, "primary_down": getattr(tts, "primary_down", None),
                "last_engine": getattr(tts, "last_engine", tts.name)},
        "llm": llm,
        "recent_turns": ctx.events.recent_turns(),
        "time": time.time(),
    }


@router.get("/metrics", tags=["system"], response_class=PlainTextResponse)
async def metrics(request: Request) -> PlainTextResponse:
    ctx = _ctx(request)
    return PlainTextResponse(ctx.metrics.render(ctx.engines.asr_jobs, ctx.engines.batcher), media_type=CONTENT_TYPE_LATEST)


@router.get("/events", tags=["system"], response_class=StreamingResponse)
async def events(request: Request) -> StreamingResponse:
    """Server-sent events: `state` (listening, thinking, speaking) and `turn` (a finished turn)."""
    return StreamingResponse(_ctx(request).events.stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


@router.get("/api/sysinfo", tags=["console"])
async def sysinfo(request: Request) -> dict:
    """What `voiceloop sysinfo --json` reports."""
    from voiceloop.sysinfo import collect

    ctx = _ctx(request)
    report = await asyncio.to_thread(collect, ctx.cfg, str(ctx.config_file) if ctx.config_file else None)
    return dataclasses.asdict(report)


@router.get("/api/settings", tags=["console"])
async def settings(request: Request) -> dict:
    """The effective configuration (read-only here; it holds no secrets, only env variable names)."""
    ctx = _ctx(request)
    return {"config_file": str(ctx.config_file) if ctx.config_file else None,
            "config": dataclasses.asdict(ctx.cfg)}


class Hotwords(BaseModel):
    hotwords: list[str] = Field(max_length=MAX_HOTWORDS)


@router.get("/api/hotwords", tags=["console"])
async def get_hotwords(request: Request) -> dict:
    store = _ctx(request).engines.hotwords
    return {"hotwords": list(await asyncio.to_thread(store.current)), "file": str(store.path) if store.path else None}


@router.put("/api/hotwords", tags=["console"], responses={400: {"description": "unusable list or no file"}})
async def put_hotwords(body: Hotwords, request: Request) -> dict:
    """Replace the hotwords; they apply to the next utterance and the next API job."""
    store = _ctx(request).engines.hotwords
    saved = await asyncio.to_thread(store.save, tuple(body.hotwords))
    return {"hotwords": list(saved), "file": str(store.path)}
