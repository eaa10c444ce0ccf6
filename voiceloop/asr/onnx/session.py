"""What every ONNX model dir shares: its files, its config.yaml, its tokens, an onnxruntime session."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

from voiceloop.errors import ModelNotFoundError

EXPORT_FIX = "voiceloop export-onnx --config <your config>"
# Boolean inputs (default true) that `onnx_graph.add_gates` adds to a Paraformer graph: false skips
# the timestamp predictor, the CIF peak loop (integrated in numpy instead), the hotword decoder.
TIMESTAMPS, CIF_PEAKS, HOTWORDS = "timestamps", "cif_peaks", "hotwords"


def onnx_file(model_dir: Path, stem: str, quantize: bool) -> Path | None:
    """`stem_quant.onnx` when int8 is wanted and present, else `stem.onnx`; None when neither is there.

    With int8 wanted but only fp32 present (or the reverse) the one present is used: a dir exported
    without --quantize still runs.
    """
    preferred = [f"{stem}_quant.onnx", f"{stem}.onnx"] if quantize else [f"{stem}.onnx", f"{stem}_quant.onnx"]
    return next((model_dir / name for name in preferred if (model_dir / name).is_file()), None)


def has_export(model_dir: Path) -> bool:
    return onnx_file(model_dir, "model", quantize=True) is not None


def require_file(model_dir: Path, stem: str, quantize: bool, key: str) -> Path:
    found = onnx_file(model_dir, stem, quantize)
    if found is None:
        raise ModelNotFoundError(f"{key}: {model_dir} holds no {stem}.onnx (asr.backend onnx needs an ONNX export). "
                                 f"Fix: run `{EXPORT_FIX} --quantize` once, or set asr.backend to torch.")
    return found


def read_model_config(model_dir: Path) -> dict[str, Any]:
    import yaml

    path = model_dir / "config.yaml"
    try:
        conf = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ModelNotFoundError(f"{path}: cannot be read ({exc}); copy the model dir again") from exc
    return conf if isinstance(conf, dict) else {}


def read_tokens(model_dir: Path) -> list[str]:
    path = model_dir / "tokens.json"
    try:
        tokens = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelNotFoundError(f"{path}: cannot be read as a JSON list of tokens ({exc}); copy the model dir "
                                 f"again") from exc
    if not isinstance(tokens, list) or not tokens:
        raise ModelNotFoundError(f"{path}: expected a JSON list of tokens; copy the model dir again")
    return [str(t) for t in tokens]


def open_session(path: Path, threads: int):
    """An onnxruntime CPU session with `threads` intra-op threads and full graph optimisation."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = max(1, threads)
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3  # errors only: ORT warns about every unused initializer
    # Threads sleep instead of spinning between operators: on a box that also runs audio, AEC and
    # other programs, a spinning thread that lost its core makes every run several times slower
    # (measured here: 0.43 s instead of 2.2 s for 5 s of speech, Paraformer-large int8, busy machine).
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    _register_shared_arena(ort)
    opts.add_session_config_entry("session.use_env_allocators", "1")
    try:
        return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
    except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own exception types
        raise ModelNotFoundError(f"{path}: onnxruntime cannot load it ({exc}). Fix: run `{EXPORT_FIX}` again.") from exc


@functools.cache
def _register_shared_arena(ort) -> None:
    """One CPU arena for all of the process's sessions (ASR, hotword encoder, VAD, punctuation),
    grown by what is asked for rather than by doubling: 60 MB less peak RSS on 10 minutes of speech
    (Paraformer-large int8, two segments at once), same speed. onnxruntime's environment is
    process-wide, so this is registered once per process."""
    info = ort.OrtMemoryInfo("Cpu", ort.OrtAllocatorType.ORT_ARENA_ALLOCATOR, 0, ort.OrtMemType.DEFAULT)
    ort.create_and_register_allocator(info, ort.OrtArenaCfg(0, 1, -1, -1))  # 1: kSameAsRequested
