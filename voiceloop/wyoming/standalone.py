"""`voiceloop wyoming`: the Wyoming server alone; loads the ASR engine once, opens no audio device."""

from __future__ import annotations

import asyncio
import logging

from voiceloop.config import Config
from voiceloop.engines import Engines
from voiceloop.lifecycle import run_until_signal

log = logging.getLogger("voiceloop.wyoming")


def wyoming_main(cfg: Config) -> int:
    """Check the address, load the engines, serve until SIGINT/SIGTERM; returns the exit code."""
    from voiceloop.asr import create_engine
    from voiceloop.tts.fallback import create_synthesizer
    from voiceloop.wyoming.server import check_uri

    check_uri(cfg.wyoming)  # a config mistake is reported before the minute-long model load
    log.info("loading %s ASR model (this can take a minute)", cfg.asr.engine)
    asr = create_engine(cfg.asr)
    return run_until_signal(lambda: _serve(cfg, asr, create_synthesizer(cfg.tts)), log)


async def _serve(cfg: Config, asr, tts) -> None:
    from voiceloop.wyoming.server import WyomingServer

    engines = Engines.shared(cfg, asr, tts)
    server = WyomingServer(cfg, engines)
    await server.start()
    info = asr.info()
    log.info("ready: wyoming on %s; asr %s on %s; tts %s", cfg.wyoming.uri, info.engine, info.device,
             server.services.voice.description)
    try:
        await asyncio.Event().wait()
    finally:
        await server.stop()
        engines.close()
