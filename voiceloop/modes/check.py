"""`voiceloop check`: is this config usable on this box? One line per item, exit 0 only if all are."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from voiceloop.config import Config


@dataclass(frozen=True, slots=True)
class CheckItem:
    name: str
    ok: bool
    detail: str
    warn: bool = False  # usable, but degraded (Edge down while an offline voice speaks): exit code stays 0


def run_checks(cfg: Config, path: Path | None, out: TextIO) -> int:
    items = [CheckItem("config", True, str(path) if path else "no file found; using built-in defaults")]
    items += _model_items(cfg)
    items.append(_device_item(cfg))
    items.append(_llm_item(cfg))
    items += _audio_items(cfg)
    items += voice_items(cfg)
    for item in items:
        mark = "FAIL" if not item.ok else "warn" if item.warn else "ok  "
        out.write(f"{mark}  {item.name:<14} {item.detail}\n")
    failed = [i for i in items if not i.ok]
    out.write("all checks passed\n" if not failed else f"{len(failed)} check(s) failed\n")
    return 0 if not failed else 1


def _model_items(cfg: Config) -> list[CheckItem]:
    from voiceloop.asr.models import describe_models

    return [CheckItem(f"{m.role} model", m.path is not None, m.path or m.problem or m.name)
            for m in describe_models(cfg.asr)]


def _device_item(cfg: Config) -> CheckItem:
    from voiceloop.asr.device import resolve_device
    from voiceloop.errors import VoiceloopError

    try:
        return CheckItem("asr device", True, resolve_device(cfg.asr.device))
    except VoiceloopError as exc:
        return CheckItem("asr device", False, str(exc))


def _llm_item(cfg: Config) -> CheckItem:
    from voiceloop.llm.client import OpenAICompatibleClient

    async def probe() -> str | None:
        client = OpenAICompatibleClient(cfg.llm)
        try:
            return await client.probe()
        finally:
            await client.aclose()

    problem = asyncio.run(probe())
    return CheckItem("llm", problem is None, problem or f"{cfg.llm.base_url} reachable (model {cfg.llm.model})")


def _audio_items(cfg: Config) -> list[CheckItem]:
    from voiceloop.audio.devices import check_devices

    return [CheckItem(name, problem is None, problem or detail) for name, detail, problem in check_devices(cfg.audio)]


_PHRASE = "你好，我在。"


def voice_items(cfg: Config) -> list[CheckItem]:
    """Edge reachable or not, and the offline voice really speaks: each synthesises a short phrase.

    The offline voice is whatever `create_synthesizer` builds for `tts.fallback` (or for
    `tts.engine` when that is offline itself), so a voice added there is checked the same way.
    """
    from voiceloop.tts.fallback import create_synthesizer, voice_chain

    items = []
    chain = voice_chain(cfg.tts)
    offline = chain[1:] if chain[0] == "edge" else chain
    if cfg.tts.engine == "edge":
        from voiceloop.tts.edge import EdgeSynthesizer

        ok, detail = _speak(EdgeSynthesizer(cfg.tts), timeout_s=cfg.tts.edge_connect_timeout_s + 10)
        if ok:
            items.append(CheckItem("edge voice", True, f"reachable ({cfg.tts.voice}): {detail}"))
        elif not offline:
            items.append(CheckItem("edge voice", False, f"{detail}; and tts.fallback is none: nothing would speak"))
        else:
            items.append(CheckItem("edge voice", True, f"{detail}; replies will be spoken by the {offline[0]} voice",
                                   warn=True))
    if offline:
        voice = create_synthesizer(dataclasses.replace(cfg.tts, engine=offline[0]))
        ok, detail = _speak(voice, timeout_s=60)
        spoke = getattr(voice, "last_engine", voice.name)
        items.append(CheckItem("offline voice", ok, f"{spoke} speaks: {detail}" if ok else detail))
    return items


def _speak(voice, timeout_s: float) -> tuple[bool, str]:
    """(spoke, what happened) for one short phrase through `voice`."""
    import numpy as np

    from voiceloop.errors import TtsError

    async def synthesise() -> list:
        return [chunk async for chunk in voice.synthesize(_PHRASE)]

    started = time.perf_counter()
    try:
        chunks = asyncio.run(asyncio.wait_for(synthesise(), timeout_s))
    except TtsError as exc:
        return False, str(exc)
    except TimeoutError:
        return False, f"{voice.name} gave no audio within {timeout_s:.0f} s"
    audio = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.float32)
    if audio.size == 0 or not np.all(np.isfinite(audio)) or np.abs(audio).max() < 0.01:
        return False, f"{voice.name} produced no audible audio for {_PHRASE!r}"
    took = time.perf_counter() - started
    return True, f"{audio.size / 16000:.1f} s of audio for {_PHRASE!r} in {took:.2f} s"
