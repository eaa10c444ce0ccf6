"""`voiceloop run`: build the stages from config, say when ready, serve until SIGINT/SIGTERM.

`serve` takes the audio port and ASR engine from outside so tests and benchmarks run the very
same wiring on a simulated room or a PulseAudio null sink.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from voiceloop.asr.base import AsrEngine
from voiceloop.assistant import Assistant, AssistantEvent, Stages
from voiceloop.audio.frontend import FrontEnd, frontend_events
from voiceloop.audio.port import AudioPort
from voiceloop.config import Config
from voiceloop.llm.client import OpenAICompatibleClient
from voiceloop.llm.memory import Conversation
from voiceloop.tts.base import Synthesizer
from voiceloop.tts.fallback import create_synthesizer
from voiceloop.tts.phrases import CachedPhrases, phrase_texts
from voiceloop.wyoming import wyoming_alongside

if TYPE_CHECKING:
    from voiceloop.api.context import Engines

log = logging.getLogger("voiceloop.daemon")


async def serve(cfg: Config, port: AudioPort, asr: AsrEngine,
                on_event: Callable[[AssistantEvent], None] | None = None,
                ready: asyncio.Event | None = None, tts: Synthesizer | None = None,
                engines: Engines | None = None) -> None:
    """Run the assistant on `port` until cancelled; owns and closes the LLM client and the port.

    `tts` is the voice with its fixed phrases made (`prepared_voice`); made here when not given.
    `engines` shares the ASR scheduler, voice and hotwords with the HTTP API (and its voice wins).
    """
    llm = OpenAICompatibleClient(cfg.llm)
    try:
        problem = await llm.probe()
        tts = engines.tts if engines else (tts or await prepared_voice(cfg))
        info = asr.info()
        log.info("ready: asr %s on %s; llm %s %s; tts %s (fallback %s); barge-in %s",
                 info.engine, info.device, cfg.llm.base_url,
                 "reachable" if problem is None else f"NOT reachable ({problem})",
                 cfg.tts.engine, cfg.tts.fallback, "on" if cfg.dialogue.barge_in else "off")
        stages = (Stages(port, asr, llm, tts) if engines is None else
                  Stages(port, asr, llm, tts, asr_jobs=engines.asr_jobs, hotwords=engines.hotwords.current))
        assistant = Assistant(cfg, stages, Conversation(cfg.llm, cfg.dialogue), on_event=on_event)
        async with wyoming_alongside(cfg, asr, stages.asr_jobs, tts):  # only if wyoming.enabled
            if ready is not None:
                ready.set()
            await assistant.run(frontend_events(port.frames(), FrontEnd(cfg)))
    finally:
        await llm.aclose()
        await port.aclose()


async def prepared_voice(cfg: Config) -> CachedPhrases:
    """The voice chain with the fixed phrases already made, so they play even when every voice is down.

    Call it before the sound devices start: loading and warming the offline voice takes seconds of
    CPU, during which an open microphone's frames would pile up unconsumed.
    """
    tts = CachedPhrases(create_synthesizer(cfg.tts), phrase_texts(cfg.dialogue))
    await tts.prepare()
    return tts


def run_main(cfg: Config, config_file: Path | None = None) -> int:
    """Load models and open devices, then serve; returns the process exit code.

    The model loads before the event loop starts, with the default signal handling: SIGINT or
    SIGTERM while loading simply ends the process, as there is nothing to drain yet.
    """
    from voiceloop.asr import create_engine

    api_sock = None
    if cfg.api.enabled:  # a closed-bind or busy-port mistake shows before the slow model load
        from voiceloop.api.server import prepare

        api_sock = prepare(cfg)
    log.info("loading %s ASR model (this can take a minute)", cfg.asr.engine)
    asr = create_engine(cfg.asr)
    return asyncio.run(_main(cfg, asr, api_sock, config_file))


async def _main(cfg: Config, asr: AsrEngine, api_sock: socket.socket | None = None,
                config_file: Path | None = None) -> int:
    from voiceloop.audio.devices import SoundDevicePort

    main = asyncio.current_task()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, main.cancel)
    with contextlib.suppress(asyncio.CancelledError):
        tts = await prepared_voice(cfg)
        port = SoundDevicePort(cfg.audio)
        if api_sock is None:
            await serve(cfg, port, asr, tts=tts)
        else:
            await _serve_with_api(cfg, port, asr, tts, api_sock, config_file)
    log.info("stopped")
    return 0


async def _serve_with_api(cfg: Config, port: AudioPort, asr: AsrEngine, tts: Synthesizer,
                          api_sock: socket.socket, config_file: Path | None) -> None:
    """The dialogue and the HTTP API in this loop, sharing one ASR scheduler, voice and hotwords."""
    from voiceloop.api.context import ApiContext, Engines
    from voiceloop.api.server import LlmProbe, api_server
    from voiceloop.hotwords import HotwordStore
    from voiceloop.scheduler import EngineScheduler

    engines = Engines(asr, EngineScheduler("asr"), tts, HotwordStore(cfg.asr.hotwords_file))
    ctx = ApiContext(cfg, engines, config_file, mode="run", llm_probe=LlmProbe(cfg.llm))
    async with api_server(ctx, api_sock):
        await serve(cfg, port, asr, on_event=ctx.on_event, engines=engines)
