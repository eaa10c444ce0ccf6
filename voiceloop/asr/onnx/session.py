"""What every ONNX model dir shares: its files, its config.yaml, its tokens, an onnxruntime session."""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import platform
import threading
from pathlib import Path
from typing import Any

from voiceloop.errors import ModelNotFoundError
from voiceloop.paths import expand_path

log = logging.getLogger(__name__)

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
    """An onnxruntime CPU session with `threads` intra-op threads and full graph optimisation.

    Optimising Paraformer-large's graph takes ~2 s of every start; the optimised graph is kept in
    the user's cache (`optimised_copy`) and later sessions load it as it is (0.4 s)."""
    import onnxruntime as ort

    cached = optimised_copy(path, ort.__version__)
    if cached is not None and cached.is_file():
        try:
            return _session(ort, cached, threads, optimise=False)
        except Exception as exc:  # noqa: BLE001 - a damaged cache entry: built again below
            log.warning("%s: the cached optimised graph cannot be loaded (%s); optimising %s again", cached, exc, path)
            cached.unlink(missing_ok=True)
    try:
        return _session(ort, path, threads, optimise=True, save_to=cached)
    except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own exception types
        raise ModelNotFoundError(f"{path}: onnxruntime cannot load it ({exc}). Fix: run `{EXPORT_FIX}` again.") from exc


def optimised_copy(path: Path, ort_version: str) -> Path | None:
    """Where the optimised graph of `path` is cached: under $XDG_CACHE_HOME/voiceloop/onnx, named by
    the file (path, size, time), the onnxruntime version and this CPU's instruction sets (an
    optimised graph may use them); None when the file cannot be read."""
    try:
        stat = path.resolve().stat()
    except OSError:
        return None
    key = "\n".join((str(path.resolve()), str(stat.st_size), str(stat.st_mtime_ns), ort_version, _cpu_flags()))
    digest = hashlib.sha256(key.encode()).hexdigest()[:24]
    return expand_path("$XDG_CACHE_HOME") / "voiceloop" / "onnx" / f"{path.stem}-{digest}.onnx"


@functools.cache
def _cpu_flags() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.machine()
    flags = next((line for line in text.splitlines() if line.startswith(("flags", "Features"))), "")
    return platform.machine() + flags


def _session(ort, path: Path, threads: int, optimise: bool, save_to: Path | None = None):
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = max(1, threads)
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = (ort.GraphOptimizationLevel.ORT_ENABLE_ALL if optimise
                                     else ort.GraphOptimizationLevel.ORT_DISABLE_ALL)
    opts.log_severity_level = 3  # errors only: ORT warns about every unused initializer
    # Threads sleep instead of spinning between operators: on a box that also runs audio, AEC and
    # other programs, a spinning thread that lost its core makes every run several times slower
    # (measured here: 0.43 s instead of 2.2 s for 5 s of speech, Paraformer-large int8, busy machine).
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    _register_shared_arena(ort)
    opts.add_session_config_entry("session.use_env_allocators", "1")
    partial = None
    if save_to is not None:
        try:
            save_to.parent.mkdir(parents=True, exist_ok=True)
            partial = save_to.with_name(f".{save_to.name}.{os.getpid()}.{threading.get_ident()}.tmp")
            opts.optimized_model_filepath = str(partial)
        except OSError as exc:
            log.debug("not caching the optimised graph of %s: %s", path, exc)
    try:
        session = ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
    except BaseException:
        if partial is not None:
            partial.unlink(missing_ok=True)  # whatever it wrote of a graph it could not load
        raise
    if partial is not None:
        try:
            os.replace(partial, save_to)  # whole or not at all, whoever else is writing it
        except OSError as exc:
            log.debug("not caching the optimised graph of %s: %s", path, exc)
            partial.unlink(missing_ok=True)
    return session


@functools.cache
def _register_shared_arena(ort) -> None:
    """One CPU arena for all of the process's sessions (ASR, hotword encoder, VAD, punctuation),
    grown by what is asked for rather than by doubling: 60 MB less peak RSS on 10 minutes of speech
    (Paraformer-large int8, two segments at once), same speed. onnxruntime's environment is
    process-wide, so this is registered once per process."""
    info = ort.OrtMemoryInfo("Cpu", ort.OrtAllocatorType.ORT_ARENA_ALLOCATOR, 0, ort.OrtMemType.DEFAULT)
    ort.create_and_register_allocator(info, ort.OrtArenaCfg(0, 1, -1, -1))  # 1: kSameAsRequested
