"""`voiceloop run`: load the model, wait for the sound devices, say when ready, serve until SIGINT/SIGTERM.

Readiness is told to systemd too (`Type=notify`: READY=1, then WATCHDOG=1 pings) when the daemon
runs under it; see `config/voiceloop.service`.

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
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from voiceloop.asr.base import AsrEngine
from voiceloop.audio.frontend import FrontEnd, frontend_events
from voiceloop.audio.port import AudioPort
from voiceloop.config import Config
from voiceloop.dialogue.assistant import Assistant, Stages
from voiceloop.dialogue.events import AssistantEvent
from voiceloop.llm.client import OpenAICompatibleClient
from voiceloop.llm.memory import Conversation
from voiceloop.sdnotify import SystemdNotifier
from voiceloop.tts.base import Synthesizer
from voiceloop.tts.fallback import create_synthesizer
from voiceloop.tts.phrases import CachedPhrases, phrase_texts
from voiceloop.wyoming import wyoming_alongside

if TYPE_CHECKING:
    from voiceloop.api.context import Engines

log = logging.getLogger("voiceloop.daemon")


@dataclass(frozen=True, slots=True)
class Preloaded:
    """The stages that take seconds to build and need no device (VAD models, the voice's imports)."""

    front: FrontEnd
    tts: Synthesizer


async def preload(cfg: Config) -> Preloaded:
    """Build them now (seconds of CPU), before the sound devices open: so ready follows the devices
    at once, and an open microphone's frames never pile up unconsumed while the voice warms up."""
    return Preloaded(FrontEnd(cfg), await prepared_voice(cfg))


async def serve(cfg: Config, port: AudioPort, asr: AsrEngine,
                on_event: Callable[[AssistantEvent], None] | None = None,
                ready: asyncio.Event | None = None, preloaded: Preloaded | None = None,
                engines: Engines | None = None) -> None:
    """Run the assistant on `port` until cancelled; owns and closes the LLM client and the port.

    `preloaded` may be built beforehand, so that `ready` follows the devices' opening at once.
    `engines` shares the ASR scheduler and hotwords with the HTTP API (its voice is `preloaded.tts`).
    """
    llm = OpenAICompatibleClient(cfg.llm)
    try:
        problem = await llm.probe()
        pre = preloaded or await preload(cfg)
        info = asr.info()
        log.info("ready: asr %s on %s; llm %s %s; tts %s (fallback %s); barge-in %s",
                 info.engine, info.device, cfg.llm.base_url,
                 "reachable" if problem is None else f"NOT reachable ({problem})",
                 cfg.tts.engine, cfg.tts.fallback, "on" if cfg.dialogue.barge_in else "off")
        stages = (Stages(port, asr, llm, pre.tts) if engines is None else
                  Stages(port, asr, llm, pre.tts, asr_jobs=engines.asr_jobs, hotwords=engines.hotwords.current))
        assistant = Assistant(cfg, stages, Conversation(cfg.llm, cfg.dialogue), on_event=on_event)
        shared = (None, None) if engines is None else (engines.decode, engines.service_tts)
        async with wyoming_alongside(cfg, asr, stages.asr_jobs, pre.tts, *shared):  # only if wyoming.enabled
            if ready is not None:
                ready.set()
            await assistant.run(frontend_events(port.frames(), pre.front))
    finally:
        await llm.aclose()
        await port.aclose()


async def prepared_voice(cfg: Config) -> CachedPhrases:
    """The voice chain with the fixed phrases already made, so they play even when every voice is down."""
    tts = CachedPhrases(create_synthesizer(cfg.tts), phrase_texts(cfg.dialogue))
    await tts.prepare()
    return tts


def run_main(cfg: Config, config_file: Path | None = None) -> int:
    """Load the model, then (in `_main`) the rest, wait for the devices and serve; returns the exit code.

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
    main = asyncio.current_task()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, main.cancel)
    notifier = SystemdNotifier()
    ready = asyncio.Event()
    herald = asyncio.create_task(_tell_systemd(notifier, ready), name="systemd-notify")
    try:
        with contextlib.suppress(asyncio.CancelledError):
            preloaded = await preload(cfg)
            async with _api_alongside(cfg, asr, preloaded.tts, api_sock, config_file) as (on_event, engines):
                port = await _open_devices(cfg, notifier)
                await serve(cfg, port, asr, on_event=on_event, ready=ready, preloaded=preloaded, engines=engines)
    finally:
        herald.cancel()
        await asyncio.gather(herald, return_exceptions=True)
        notifier.notify("STOPPING=1")
        notifier.close()
    log.info("stopped")
    return 0


async def _open_devices(cfg: Config, notifier: SystemdNotifier) -> AudioPort:
    """The sound devices, once they are there: at boot the sound server or a USB microphone may
    come minutes after the daemon, which then waits (logging once what for) instead of exiting
    and being restarted by systemd, model load and all."""
    from voiceloop.audio.devices import SoundDevicePort

    notifier.notify("STATUS=opening the audio devices")
    port = SoundDevicePort(cfg.audio, wait=True)
    try:
        await port.opened()
    except BaseException:  # cancelled (SIGTERM) while waiting: close what the port holds
        await port.aclose()
        raise
    return port


async def _tell_systemd(notifier: SystemdNotifier, ready: asyncio.Event) -> None:
    """READY=1 once serving; then WATCHDOG=1 every WatchdogSec/2 from this event loop, so a loop
    that stops turning (blocked, deadlocked) stops the pings and systemd restarts the daemon."""
    await ready.wait()
    notifier.notify("READY=1", "STATUS=listening")
    if notifier.watchdog_s is None:
        return
    while True:
        notifier.notify("WATCHDOG=1")
        await asyncio.sleep(notifier.watchdog_s / 2)


@contextlib.asynccontextmanager
async def _api_alongside(cfg: Config, asr: AsrEngine, tts: Synthesizer, api_sock: socket.socket | None,
                         config_file: Path | None):
    """The HTTP API in this loop (when api.enabled), sharing one ASR scheduler, the voice and the
    hotwords with the dialogue; it serves already while the sound devices are awaited."""
    if api_sock is None:
        yield None, None
        return
    from voiceloop.api.context import ApiContext, Engines
    from voiceloop.api.server import LlmProbe, api_server
    from voiceloop.scheduler import EngineScheduler

    engines = Engines.shared(cfg, asr, EngineScheduler("asr"), tts)
    ctx = ApiContext(cfg, engines, config_file, mode="run", llm_probe=LlmProbe(cfg.llm))
    try:
        async with api_server(ctx, api_sock):
            yield ctx.on_event, engines
    finally:
        engines.decode.close()
