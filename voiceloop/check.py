"""`voiceloop check`: is this config usable on this box? One line per item, exit 0 only if all are."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from voiceloop.config import Config


@dataclass(frozen=True, slots=True)
class CheckItem:
    name: str
    ok: bool
    detail: str


def run_checks(cfg: Config, path: Path | None, out: TextIO) -> int:
    items = [CheckItem("config", True, str(path) if path else "no file found; using built-in defaults")]
    items += _model_items(cfg)
    items.append(_device_item(cfg))
    items.append(_llm_item(cfg))
    items += _audio_items(cfg)
    for item in items:
        out.write(f"{'ok  ' if item.ok else 'FAIL'}  {item.name:<14} {item.detail}\n")
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
