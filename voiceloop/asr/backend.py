"""Choose the Paraformer runtime from `asr.backend`: onnxruntime on a CPU, torch (funasr) on CUDA.

`auto` picks onnx when the device is a CPU and every configured model dir holds an ONNX export,
else torch. Whether there is a GPU is first asked of the NVIDIA driver, so a CPU box never imports
torch (5-8 s with funasr) just to learn that it has none.
"""

from __future__ import annotations

import logging
import os
import shutil
from dataclasses import replace
from pathlib import Path

from voiceloop.asr.base import AsrEngine
from voiceloop.asr.models import configured_models, resolve_model
from voiceloop.asr.onnx.session import EXPORT_FIX, has_export
from voiceloop.config import AsrConfig
from voiceloop.errors import ConfigError, ModelNotFoundError

log = logging.getLogger(__name__)
_KEYS = {"asr": "asr.model", "vad": "asr.vad_model", "punc": "asr.punc_model"}


def create_paraformer(cfg: AsrConfig, jobs: int = 1, batch: bool = False) -> AsrEngine:
    """The engine for `asr.backend`; with `jobs` concurrent callers the ONNX engine gives each
    asr.threads / jobs threads (the torch engine serialises calls, so it keeps all of them).
    `batch` (throughput over latency): the ONNX engine runs asr.threads VAD segments at once, one
    thread each, whichever of the concurrent calls they come from."""
    names = dict(configured_models(cfg))
    paths = resolved_models(cfg)
    if choose_backend(cfg, paths) == "onnx":
        from voiceloop.asr.onnx.engine import OnnxParaformerEngine

        threads = cfg.threads or os.cpu_count() or 1
        if batch:
            return OnnxParaformerEngine(replace(cfg, threads=threads), paths, names, quantize=cfg.quantize,
                                        workers=threads)
        return OnnxParaformerEngine(replace(cfg, threads=max(1, threads // max(1, jobs))), paths, names,
                                    quantize=cfg.quantize)
    lacking = [role for role, path in paths.items() if not (path / "model.pt").is_file()]
    if lacking:
        raise ModelNotFoundError(f"{_KEYS[lacking[0]]}: {paths[lacking[0]]} holds only ONNX files, which the torch "
                                 f"backend cannot load. Fix: set asr.backend to onnx (CPU), or point the key at "
                                 f"the -pytorch model dir.")
    from voiceloop.asr.paraformer import ParaformerEngine

    return ParaformerEngine(cfg)


def resolved_models(cfg: AsrConfig) -> dict[str, Path]:
    """Each configured model's local dir by role (asr, vad, punc); raises ModelNotFoundError naming the key."""
    return {role: resolve_model(name, role, cfg.cache_dir) for role, name in configured_models(cfg)}


def choose_backend(cfg: AsrConfig, paths: dict[str, Path]) -> str:
    """"onnx" or "torch" for this config and these resolved model dirs; raises when onnx cannot run."""
    missing = [role for role, path in paths.items() if not has_export(path)]
    if cfg.backend == "onnx":
        if cfg.device not in ("auto", "cpu"):
            raise ConfigError(f"asr.backend onnx runs on the CPU only; asr.device is {cfg.device}. "
                              f"Fix: set asr.device to cpu or auto, or asr.backend to torch.")
        if missing:
            raise ModelNotFoundError(f"{_KEYS[missing[0]]}: {paths[missing[0]]} has no ONNX export (model.onnx), "
                                     f"and asr.backend is onnx. Fix: run `{EXPORT_FIX} --quantize` once "
                                     f"(it writes model.onnx and model_quant.onnx into each model dir).")
        return "onnx"
    if cfg.backend == "torch" or cfg.device.startswith("cuda") or _has_cuda(cfg.device):
        return "torch"
    if missing:
        log.info("asr.backend auto: using torch because %s has no ONNX export; `%s --quantize` makes the CPU "
                 "path faster and lighter", paths[missing[0]], EXPORT_FIX)
        return "torch"
    return "onnx"


def _has_cuda(device: str) -> bool:
    if device == "cpu":
        return False
    if not Path("/proc/driver/nvidia/version").exists() and shutil.which("nvidia-smi") is None:
        return False
    from voiceloop.asr.device import resolve_device

    return resolve_device(device).startswith("cuda")
