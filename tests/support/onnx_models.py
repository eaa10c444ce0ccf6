"""The tiny FunASR model dirs exported by `voiceloop export-onnx --quantize`, and configs for them."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

from support.cli import run_voiceloop
from voiceloop.config import AsrConfig


def export_copies(tiny_models, root: Path) -> tuple[dict[str, Path], Path, str]:
    """Copies of the tiny model dirs, exported (fp32 + int8) by the real command line: the dirs,
    the config naming them, and the command's stdout."""
    dirs = {role: shutil.copytree(getattr(tiny_models, role), root / role) for role in ("seaco", "vad", "punc")}
    config = root / "voiceloop.yaml"
    config.write_text(f"asr:\n  model: {dirs['seaco']}\n  vad_model: {dirs['vad']}\n  punc_model: {dirs['punc']}\n")
    proc = run_voiceloop("export-onnx", "--config", str(config), "--quantize")
    assert proc.returncode == 0, proc.stderr
    return dirs, config, proc.stdout


def cfg(dirs: dict[str, Path], **overrides) -> AsrConfig:
    base = AsrConfig(model=str(dirs["seaco"]), vad_model=str(dirs["vad"]), punc_model=str(dirs["punc"]), threads=2)
    return replace(base, **overrides)
