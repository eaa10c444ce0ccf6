"""`voiceloop transcribe --ray`: the same batch on a Ray cluster, for archives that outgrow one box.

    files --decode (audio.blocks) + VAD + features (asr.prepare), CPU tasks anywhere-->  blocks of <= 5 min
          --recognise: one actor per GPU, else CPU actors of `asr.threads` cores-->  transcripts
          --the driver joins each file's blocks and writes its outputs (transcribe.write_outputs)

The pipeline is Ray Data's (streaming, so decoding stays a few blocks ahead of recognition and
memory stays bounded); each actor loads the engine once. Blocks are cut and joined as the
single-process path cuts and joins them and the samples travel as float32 bytes, so the outputs
are the same files. Outputs are written by the driver, atomically, as each file completes: a file
that fails to decode or to recognise fails alone, and a rerun with `--resume` skips finished files.

Every node needs voiceloop installed and the model dirs at the configured paths (shared storage);
the input files must be readable at the same paths from every node.
"""

from __future__ import annotations

import logging
import pickle
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from voiceloop.asr.segments import join_parts
from voiceloop.config import AsrConfig
from voiceloop.errors import AudioDecodeError, VoiceloopError
from voiceloop.modes.transcribe import (
    BatchOptions,
    FileResult,
    undecodable,
    write_outputs,
)

log = logging.getLogger("voiceloop.raybatch")

_PROGRESS_EVERY_S = 10.0  # a progress line at most this often when stderr is not a terminal
_DEFAULT_ACTOR_CPUS = 2


def transcribe_on_ray(address: str | None, asr: AsrConfig, files: list[Path], targets: list[list[Path]],
                      options: BatchOptions, progress: bool = False) -> list[FileResult]:
    """Transcribe `files` on the cluster at `address` (None: $RAY_ADDRESS, else a local instance
    on this machine's cores); results in input order."""
    import ray

    _preflight(asr)
    ray.init(address=address, include_dashboard=False, logging_level=logging.WARNING, log_to_driver=False,
             configure_logging=False)
    try:
        ray.data.DataContext.get_current().enable_progress_bars = False
        _quiet_ray_data()
        cluster = ray.cluster_resources()
        plan = _plan(asr, cluster)
        setup = _front_setup(plan)
        log.info("ray: %d file(s) on %d CPU(s) and %d GPU(s): %d recogniser(s) of %s; decoding tasks %s",
                 len(files), cluster.get("CPU", 0), cluster.get("GPU", 0), plan.actors,
                 "1 GPU" if plan.gpu else f"{plan.asr.threads} CPU(s)",
                 "also run the VAD and features" if setup else "decode only")
        rows = [{"k": k, "path": str(path)} for k, path in enumerate(files)]
        blocks = ray.data.from_items(rows, override_num_blocks=max(1, len(rows))).flat_map(
            _decode, fn_kwargs={"block_s": options.block_s, "setup": setup})
        # the engine's settings ride on the class, so actors start from it alone (no object-store arguments)
        recogniser = type("Recogniser", (_Recogniser,), {"asr": plan.asr, "options": options})
        texts = blocks.map_batches(recogniser, batch_size=1, compute=ray.data.ActorPoolStrategy(size=plan.actors),
                                   **({"num_gpus": 1} if plan.gpu else {"num_cpus": plan.asr.threads}))
        try:
            return _collect(texts.iter_rows(), files, targets, options, progress)
        except ray.exceptions.RayError as exc:
            lines = str(exc).strip().splitlines() or [type(exc).__name__]
            raise VoiceloopError(f"the Ray job failed: {lines[-1]} (Ray's logs: /tmp/ray/session_latest/logs)") from exc
    finally:
        ray.shutdown()


def _preflight(asr: AsrConfig) -> None:
    """A model missing here is said in one line before any actor starts (every node reads the same
    paths), instead of as actors failing one after another."""
    if asr.engine == "paraformer":
        from voiceloop.asr.backend import choose_backend, resolved_models

        choose_backend(asr, resolved_models(asr))


def _quiet_ray_data() -> None:
    """Ray Data's per-dataset lines stay in its session log; the progress line here says what matters."""
    for handler in logging.getLogger("ray.data").handlers:
        if not isinstance(handler, logging.FileHandler):
            handler.setLevel(logging.WARNING)


@dataclass(frozen=True, slots=True)
class _Plan:
    asr: AsrConfig
    actors: int
    gpu: bool


def _plan(asr: AsrConfig, cluster: dict[str, float]) -> _Plan:
    """One actor per GPU; on CPUs, actors of `asr.threads` (default 2) cores, a core left for decoding."""
    gpus = int(cluster.get("GPU", 0))
    if gpus and asr.device != "cpu":
        return _Plan(asr, gpus, gpu=True)
    cpus = int(cluster.get("CPU", 1))
    per = max(1, min(asr.threads or _DEFAULT_ACTOR_CPUS, cpus - 1))
    return _Plan(replace(asr, threads=per), max(1, (cpus - 1) // per), gpu=False)


def _front_setup(plan: _Plan):
    """Decoding tasks also segment and featurise (`asr.prepare`) when the VAD has an ONNX export, so
    a GPU actor only runs the networks; the fp32 VAD graph beside the torch engine (its own VAD's cuts)."""
    if plan.asr.engine != "paraformer":
        return None
    from voiceloop.asr.backend import resolved_models
    from voiceloop.asr.prepare import front_setup

    return front_setup(resolved_models(plan.asr), plan.asr.quantize and not plan.gpu)


def _decode(row: dict, block_s: float, setup) -> Iterator[dict]:
    """A file as the blocks the single-process path cuts (each cut and featurised with a `setup`),
    or one row naming why it cannot be decoded."""
    from voiceloop.asr.prepare import prepare_block
    from voiceloop.audio.blocks import decoded_blocks

    path, n = Path(row["path"]), 0
    try:
        for block in decoded_blocks(path, block_s):
            audio = b"" if setup else block.samples.tobytes()
            prepared = pickle.dumps(prepare_block(block.samples, setup)) if setup else b""
            yield {"k": row["k"], "n": n, "start": block.start, "size": block.samples.size, "audio": audio,
                   "prepared": prepared, "last": block.last, "error": ""}
            n += 1
    except AudioDecodeError as exc:
        yield {"k": row["k"], "n": n, "start": 0, "size": 0, "audio": b"", "prepared": b"", "last": True,
               "error": undecodable(path, exc).error}


class _Recogniser:
    """A Ray actor: the engine, loaded once, recognising one block per call."""

    asr: AsrConfig
    options: BatchOptions

    def __init__(self) -> None:
        from voiceloop.asr import create_engine
        from voiceloop.modes.transcribe import timestamps_needed

        self._engine = create_engine(self.asr, batch=True)
        self._hotwords = self.options.hotwords
        self._timed = timestamps_needed(self.options)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, list]:
        out: dict[str, list] = {"k": [], "n": [], "start": [], "end": [], "last": [], "transcript": [], "error": []}
        for i in range(len(batch["k"])):
            error, transcript = str(batch["error"][i]), b""
            if not error:
                try:
                    transcript = pickle.dumps(self._recognise(batch["audio"][i], batch["prepared"][i]))
                except Exception as exc:  # noqa: BLE001 - one file's failure must not end the batch
                    error = f"recognition failed: {exc}"
            start = int(batch["start"][i])
            for key, value in (("k", int(batch["k"][i])), ("n", int(batch["n"][i])), ("start", start),
                               ("end", start + int(batch["size"][i])), ("last", bool(batch["last"][i])),
                               ("transcript", transcript), ("error", error)):
                out[key].append(value)
        return out

    def _recognise(self, audio: bytes, prepared: bytes):
        if prepared:
            return self._engine.transcribe_prepared([pickle.loads(prepared)], self._hotwords, self._timed)[0]
        return self._engine.transcribe(np.frombuffer(audio, dtype=np.float32), self._hotwords, timestamps=self._timed)


def _collect(rows, files: list[Path], targets: list[list[Path]], options: BatchOptions,
             progress: bool) -> list[FileResult]:
    """Join each file's blocks as they come back (in any order) and write its outputs once complete."""
    done: dict[int, FileResult] = {}
    parts: dict[int, dict[int, tuple[int, int, object]]] = {}
    blocks_of: dict[int, int] = {}
    report = _Progress(len(files), progress)
    for row in rows:
        k = int(row["k"])
        if k in done:
            continue
        if row["error"]:
            done[k] = FileResult(files[k], error=str(row["error"]))
            parts.pop(k, None)  # its blocks recognised so far are no use now
        else:
            parts.setdefault(k, {})[int(row["n"])] = (int(row["start"]), int(row["end"]),
                                                      pickle.loads(row["transcript"]))
            if row["last"]:
                blocks_of[k] = int(row["n"]) + 1
            if len(parts[k]) != blocks_of.get(k):
                continue
            mine = parts.pop(k)
            done[k] = write_outputs(files[k], _joined([mine[n] for n in range(blocks_of[k])]), options, targets[k])
        report.file_done(done[k])
    report.close()
    return [done[k] for k in range(len(files))]


def _joined(parts: list[tuple[int, int, object]]):
    if len(parts) == 1:
        return parts[0][2]
    return join_parts(parts, parts[-1][1], sum(t.processing_s for _, _, t in parts), parts[-1][2].engine)


class _Progress:
    """tqdm on a terminal; otherwise a log line every `_PROGRESS_EVERY_S` (a cluster job's log)."""

    def __init__(self, total: int, bar: bool):
        from tqdm import tqdm

        self._bar = tqdm(total=total, unit="file", file=sys.stderr, dynamic_ncols=True) if bar else None
        self._total, self._done, self._failed, self._audio_s = total, 0, 0, 0.0
        self._started = self._said = time.monotonic()

    def file_done(self, result: FileResult) -> None:
        self._done += 1
        self._failed += result.error is not None
        self._audio_s += result.transcript.duration_s if result.transcript else 0.0
        if self._bar is not None:
            self._bar.set_postfix_str(result.path.name[-40:], refresh=False)
            self._bar.update(1)
        elif time.monotonic() - self._said >= _PROGRESS_EVERY_S or self._done == self._total:
            self._said = time.monotonic()
            elapsed = self._said - self._started
            log.info("ray: %d of %d file(s) done (%d failed), %.0f s of audio in %.0f s (%.1fx realtime)",
                     self._done, self._total, self._failed, self._audio_s, elapsed,
                     self._audio_s / elapsed if elapsed > 0 else 0.0)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
