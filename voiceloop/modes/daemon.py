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
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from voiceloop.asr.base import AsrEngine
from voiceloop.audio.frontend import FrontEnd, frontend_events
from voiceloop.audio.port import AudioPort
from voiceloop.config import Config
from voiceloop.dialogue.assistant import Assistant, Stages
from voiceloop.dialogue.events import AssistantEvent
from voiceloop.engines import Engines
from voiceloop.lifecycle import run_until_signal
from voiceloop.llm.client import OpenAICompatibleClient
from voiceloop.llm.memory import Conversation
from voiceloop.sdnotify import SystemdNotifier
from voiceloop.tts.base import Synthesizer
from voiceloop.tts.fallback import create_synthesizer
from voiceloop.tts.phrases import CachedPhrases, phrase_texts
from voiceloop.wyoming import wyoming_alongside

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
    `engines` are shared with the HTTP API (their voice is `preloaded.tts`); without them the
    dialogue and Wyoming get engines of their own, closed at the end.
    """
    llm = OpenAICompatibleClient(cfg.llm)
    own = None
    try:
        problem = await llm.probe()
        pre = preloaded or await preload(cfg)
        if engines is None:
            engines = own = Engines.shared(cfg, asr, pre.tts)
        info = asr.info()
        log.info("ready: asr %s on %s; llm %s %s; tts %s (fallback %s); barge-in %s",
                 info.engine, info.device, cfg.llm.base_url,
                 "reachable" if problem is None else f"NOT reachable ({problem})",
                 cfg.tts.engine, cfg.tts.fallback, "on" if cfg.dialogue.barge_in else "off")
        stages = Stages(port, asr, llm, pre.tts, asr_jobs=engines.asr_jobs, hotwords=engines.hotwords_for)
        assistant = Assistant(cfg, stages, Conversation(cfg.llm, cfg.dialogue), on_event=on_event)
        async with wyoming_alongside(cfg, engines):  # only if wyoming.enabled
            if ready is not None:
                ready.set()
            await assistant.run(frontend_events(port.frames(), pre.front))
    finally:
        await llm.aclose()
        await port.aclose()
        if own is not None:
            own.close()


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
    return run_until_signal(lambda: _main(cfg, asr, api_sock, config_file), log)


async def _main(cfg: Config, asr: AsrEngine, api_sock: socket.socket | None = None,
                config_file: Path | None = None) -> int:
    notifier = SystemdNotifier()
    ready = asyncio.Event()
    herald = asyncio.create_task(_tell_systemd(notifier, ready), name="systemd-notify")
    try:
        preloaded = await preload(cfg)
        engines = Engines.shared(cfg, asr, preloaded.tts)
        try:
            async with _api_alongside(cfg, engines, api_sock, config_file) as on_event:
                port = await _open_devices(cfg, notifier)
                await serve(cfg, port, asr, on_event=on_event, ready=ready, preloaded=preloaded, engines=engines)
        finally:
            engines.close()
    finally:
        herald.cancel()
        await asyncio.gather(herald, return_exceptions=True)
        notifier.notify("STOPPING=1")
        notifier.close()
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
async def _api_alongside(cfg: Config, engines: Engines, api_sock: socket.socket | None, config_file: Path | None):
    """The HTTP API in this loop (when api.enabled) on the dialogue's engines; it serves already
    while the sound devices are awaited. Yields the dialogue's event observer (None without it)."""
    if api_sock is None:
        yield None
        return
    from voiceloop.api.context import ApiContext
    from voiceloop.api.server import LlmProbe, api_server

    ctx = ApiContext(cfg, engines, config_file, mode="run", llm_probe=LlmProbe(cfg.llm))
    async with api_server(ctx, api_sock):
        yield ctx.on_event
