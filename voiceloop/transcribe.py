"""`voiceloop transcribe`: batch transcription of files and folders.

The model loads once; the next file decodes in a worker thread while the current one is
recognised, and with `jobs` > 1 that many files are recognised at once (the ONNX engine runs
concurrent calls; the torch engine takes them one at a time). A bad file costs one line on stderr, never the batch: every good file is still
transcribed and written (atomically), and the exit code says whether any failed.
"""

from __future__ import annotations

import logging
import sys
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import numpy as np

from voiceloop.asr.base import AsrEngine, Transcript
from voiceloop.atomic import write_text_atomic
from voiceloop.audio.decode import decode_file
from voiceloop.errors import AudioDecodeError
from voiceloop.outputs import render

log = logging.getLogger(__name__)

AUDIO_SUFFIXES = frozenset({".wav", ".flac", ".mp3", ".ogg", ".opus", ".oga", ".m4a", ".aac", ".mp4",
                            ".wma", ".webm", ".amr", ".aiff", ".aif"})


@dataclass(frozen=True, slots=True)
class BatchOptions:
    formats: tuple[str, ...] = ("txt",)
    output_dir: Path | None = None  # None: next to each input file
    hotwords: tuple[str, ...] = ()
    jobs: int = 1  # files decoded and recognised at once


@dataclass(frozen=True, slots=True)
class FileResult:
    path: Path
    transcript: Transcript | None = None
    outputs: tuple[Path, ...] = ()
    error: str | None = None


def expand_inputs(inputs: list[str]) -> tuple[list[Path], list[FileResult]]:
    """Files as given plus audio files found under given folders (sorted); missing paths are failures."""
    files: list[Path] = []
    failures: list[FileResult] = []
    for raw in inputs:
        path = Path(raw).expanduser()
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES)
            if not found:
                failures.append(FileResult(path, error="folder contains no audio files "
                                                       f"({', '.join(sorted(AUDIO_SUFFIXES))})"))
            files.extend(found)
        elif path.exists():
            files.append(path)
        else:
            failures.append(FileResult(path, error="no such file or folder"))
    return files, failures


def transcribe_files(engine: AsrEngine, files: list[Path], options: BatchOptions,
                     progress: bool = False) -> list[FileResult]:
    """Transcribe each file, writing outputs as it goes; never raises for one bad file.

    At most `jobs + 1` files are in flight (decoded or being recognised), so memory stays bounded
    however many files are given; results come back in input order.
    """
    from tqdm import tqdm

    used_names: set[Path] = set()
    targets = [[_output_path(p, fmt, options.output_dir, used_names) for fmt in options.formats] for p in files]
    jobs = max(1, options.jobs)
    results: list[FileResult] = []
    bar = tqdm(total=len(files), unit="file", disable=not progress, file=sys.stderr, dynamic_ncols=True)
    with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="decode") as decoder, \
            ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="recognise") as recogniser:
        in_flight: deque[Future] = deque()
        for path, outputs in zip(files, targets):
            decoded = decoder.submit(decode_file, path)
            in_flight.append(recogniser.submit(_one_file, engine, path, decoded, options, outputs))
            while len(in_flight) > jobs:
                results.append(_finished(in_flight.popleft(), bar))
        while in_flight:
            results.append(_finished(in_flight.popleft(), bar))
    bar.close()
    return results


def _finished(future: Future, bar) -> FileResult:
    result = future.result()
    bar.set_postfix_str(result.path.name[-40:], refresh=False)
    bar.update(1)
    return result


def _one_file(engine: AsrEngine, path: Path, decoded: Future, options: BatchOptions,
              targets: list[Path]) -> FileResult:
    try:
        samples: np.ndarray = decoded.result()
    except AudioDecodeError as exc:
        return FileResult(path, error=str(exc).removeprefix(f"{path}: "))
    try:
        timed = any(fmt != "txt" for fmt in options.formats)  # txt is text only: no sentence times needed
        transcript = engine.transcribe(samples, options.hotwords, timestamps=timed)
    except Exception as exc:  # noqa: BLE001 - one file's failure must not end the batch
        log.debug("recognition failed for %s", path, exc_info=True)
        return FileResult(path, error=f"recognition failed: {exc}")
    outputs = []
    for fmt, target in zip(options.formats, targets):
        try:
            write_text_atomic(target, render(transcript, fmt, path))
        except OSError as exc:
            return FileResult(path, transcript, tuple(outputs), f"cannot write {target}: {exc.strerror or exc}")
        outputs.append(target)
    return FileResult(path, transcript, tuple(outputs))


def _output_path(source: Path, fmt: str, output_dir: Path | None, used: set[Path]) -> Path:
    """`<stem>.<fmt>` beside the source or in output_dir; a second file with the same stem gets `-2`."""
    folder = output_dir if output_dir is not None else source.parent
    target = folder / f"{source.stem}.{fmt}"
    n = 2
    while target in used:
        target = folder / f"{source.stem}-{n}.{fmt}"
        n += 1
    used.add(target)
    return target


def print_summary(results: list[FileResult], out: TextIO, err: TextIO, text_width: int = 40) -> None:
    """A table of the good files on `out`, one line per bad file on `err`."""
    good = [r for r in results if r.transcript is not None and r.error is None]
    if good:
        rows = [("file", "duration", "text", "proc s", "x realtime")]
        for r in good:
            t = r.transcript
            text = t.text if len(t.text) <= text_width else t.text[: text_width - 1] + "…"
            speed = f"{t.duration_s / t.processing_s:.1f}x" if t.processing_s > 0 else "-"
            rows.append((r.path.name, f"{t.duration_s:.1f}s", text, f"{t.processing_s:.2f}", speed))
        widths = [max(_width(row[i]) for row in rows) for i in range(len(rows[0]))]
        for row in rows:
            out.write("  ".join(cell + " " * (w - _width(cell)) for cell, w in zip(row, widths)).rstrip() + "\n")
        total_audio = sum(r.transcript.duration_s for r in good)
        total_proc = sum(r.transcript.processing_s for r in good)
        speed = total_audio / total_proc if total_proc > 0 else 0.0
        out.write(f"{len(good)} file(s), {total_audio:.1f} s of audio in {total_proc:.1f} s ({speed:.1f}x realtime)\n")
    for r in results:
        if r.error is not None:
            err.write(f"voiceloop: {r.path}: {r.error}\n")
    if any(r.error for r in results):
        failed = sum(1 for r in results if r.error)
        err.write(f"voiceloop: {failed} of {len(results)} file(s) failed\n")


def _width(text: str) -> int:
    """Terminal cells: CJK characters take two."""
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)
