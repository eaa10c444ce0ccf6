"""`voiceloop transcribe`: batch transcription of files and folders.

The model loads once; the next file decodes in a worker thread while the current one is
recognised, and with `jobs` > 1 that many files are recognised at once (the ONNX engine runs
concurrent calls; the torch engine takes them one at a time). On a GPU (an engine with
`batch_seconds` > 0) files are gathered into groups and their VAD segments recognised in batches
packed by duration, so a folder of short recordings fills the GPU as one long file does.
A file longer than a few minutes is decoded and recognised block by block (`audio.blocks`), so a
three-hour recording takes the memory of five minutes. With a `FrontHalf` (`--front-workers`, the
default on a GPU) worker processes decode, segment and featurise the files (and cut a long file's
blocks), so the engine's thread only runs the networks. A bad file costs one line on stderr, never
the batch: every good file is still transcribed and written (atomically), and the exit code says
whether any failed.
"""

from __future__ import annotations

import logging
import sys
import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import numpy as np

from voiceloop.asr.base import AsrEngine, Transcript
from voiceloop.asr.outputs import render
from voiceloop.asr.prepare import FrontHalf, Prepared
from voiceloop.asr.segments import join_parts
from voiceloop.atomic import write_text_atomic
from voiceloop.audio.blocks import BLOCK_S, Block, decoded_blocks
from voiceloop.errors import AudioDecodeError

log = logging.getLogger("voiceloop.transcribe")

GROUP_BATCHES = 2  # a GPU group holds this many batches' worth of audio
MAX_GROUP_FILES = 256
BLOCKS_AHEAD = 3  # a long file's blocks being cut by front-half workers while one is recognised
AUDIO_SUFFIXES = frozenset({".wav", ".flac", ".mp3", ".ogg", ".opus", ".oga", ".m4a", ".aac", ".mp4",
                            ".wma", ".webm", ".amr", ".aiff", ".aif"})


@dataclass(frozen=True, slots=True)
class BatchOptions:
    formats: tuple[str, ...] = ("txt",)
    output_dir: Path | None = None  # None: next to each input file
    hotwords: tuple[str, ...] = ()
    jobs: int = 1  # files decoded and recognised at once
    batch_seconds: float | None = None  # segments packed per GPU batch; None: the engine's own, 0: file by file
    block_s: float = BLOCK_S  # longer files are decoded and recognised in blocks of about this length


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


def plan_outputs(files: list[Path], options: BatchOptions) -> list[list[Path]]:
    """Each file's output paths, one per format (`<stem>.<fmt>`, `-2` and on for a repeated stem)."""
    used_names: set[Path] = set()
    return [[_output_path(p, fmt, options.output_dir, used_names) for fmt in options.formats] for p in files]


def already_done(files: list[Path], targets: list[list[Path]]) -> tuple[list[Path], list[list[Path]], list[Path]]:
    """(files to do, their targets, files skipped): a file is done when all its outputs exist (`--resume`)."""
    done = [all(p.is_file() for p in t) for t in targets]
    return ([f for f, d in zip(files, done) if not d], [t for t, d in zip(targets, done) if not d],
            [f for f, d in zip(files, done) if d])


def transcribe_files(engine: AsrEngine, files: list[Path], options: BatchOptions,
                     progress: bool = False, targets: list[list[Path]] | None = None,
                     front: FrontHalf | None = None) -> list[FileResult]:
    """Transcribe each file, writing outputs as it goes (to `targets`, else `plan_outputs`); never
    raises for one bad file.

    At most `jobs + 1` files are in flight (decoded or being recognised), plus one per `front`
    worker (processes that decode, segment and featurise files for the engine), so memory stays
    bounded however many files are given; results come back in input order.
    """
    from tqdm import tqdm

    targets = plan_outputs(files, options) if targets is None else targets
    front = front if hasattr(engine, "transcribe_prepared") else None
    jobs = max(1, options.jobs)
    results: list[FileResult] = []
    bar = tqdm(total=len(files), unit="file", disable=not progress, file=sys.stderr, dynamic_ncols=True)
    batch_seconds = getattr(engine, "batch_seconds", 0.0) if options.batch_seconds is None else options.batch_seconds
    if batch_seconds > 0 and hasattr(engine, "transcribe_many"):
        results = _in_groups(engine, files, targets, options, batch_seconds, bar, front)
        bar.close()
        return results
    limit = jobs + (front.workers if front else 0)
    with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="decode") as decoder, \
            ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="recognise") as recogniser:
        in_flight: deque[Future] = deque()
        for path, outputs in zip(files, targets):
            decoded = _start(front, decoder, path, options.block_s)
            in_flight.append(recogniser.submit(_one_file, engine, path, decoded, options, outputs, bar, front))
            while len(in_flight) > limit:
                results.append(_finished(in_flight.popleft(), bar))
        while in_flight:
            results.append(_finished(in_flight.popleft(), bar))
    bar.close()
    return results


def _finished(future: Future, bar) -> FileResult:
    return _finished_one(future.result(), bar)


def _finished_one(result: FileResult, bar) -> FileResult:
    bar.set_postfix_str(result.path.name[-40:], refresh=False)
    bar.update(1)
    return result


def _first_block(path: Path, block_s: float) -> tuple[Block, Iterator[Block]]:
    """Decoded in the decode thread; the file's later blocks (if any) are decoded by its recogniser."""
    blocks = decoded_blocks(path, block_s)
    return next(blocks), blocks


def _start(front: FrontHalf | None, decoder: ThreadPoolExecutor, path: Path, block_s: float) -> Future:
    return front.submit(path, block_s) if front else decoder.submit(_first_block, path, block_s)


def _ready(future: Future, path: Path, block_s: float) -> Prepared | tuple[Block, Iterator[Block]]:
    """What the decode step made of `path`: a `Prepared` file from a front-half worker, or its first
    block and the rest (a long file, a decode thread's work, or a worker that failed: then decoded
    here). Raises AudioDecodeError."""
    try:
        made = future.result()
    except AudioDecodeError:
        raise
    except Exception as exc:  # noqa: BLE001 - a worker that died or failed: the file is done here instead
        log.warning("%s: decoding ahead failed (%s); decoding it again in this process", path.name, exc)
        made = None
    return _first_block(path, block_s) if made is None else made


def _one_file(engine: AsrEngine, path: Path, decoded: Future, options: BatchOptions,
              targets: list[Path], bar, front: FrontHalf | None) -> FileResult:
    try:
        made = _ready(decoded, path, options.block_s)
    except AudioDecodeError as exc:
        return undecodable(path, exc)
    if isinstance(made, Prepared):
        return _recognise_one(engine, path, made, options, targets)
    first, rest = made
    if first.last:
        return _recognise_one(engine, path, first.samples, options, targets)
    return _recognise_blocks(engine, path, first, rest, options, targets, bar, front)


def _recognise_blocks(engine: AsrEngine, path: Path, block: Block, rest: Iterator[Block], options: BatchOptions,
                      targets: list[Path], bar, front: FrontHalf | None = None) -> FileResult:
    """A long file, block by block: a block of audio in memory at a time (with a `front`, the next
    few are being cut by its workers meanwhile)."""
    started = time.perf_counter()
    parts: list[tuple[int, int, Transcript]] = []
    try:
        for block, item in _blocks_ahead(front, block, rest):
            end = block.start + block.samples.size
            parts.append((block.start, end, _transcribe(engine, item, options)))
            bar.set_postfix_str(f"{path.name[-40:]} {end / 16000 / 60:.0f} min", refresh=True)
    except AudioDecodeError as exc:
        return undecodable(path, exc)
    except Exception as exc:  # noqa: BLE001 - one file's failure must not end the batch
        log.debug("recognition failed for %s", path, exc_info=True)
        return FileResult(path, error=f"recognition failed: {exc}")
    transcript = join_parts(parts, end, time.perf_counter() - started, engine.name)
    return write_outputs(path, transcript, options, targets)


def _blocks_ahead(front: FrontHalf | None, block: Block,
                  rest: Iterator[Block]) -> Iterator[tuple[Block, np.ndarray | Prepared]]:
    """Each block with what the engine takes: its samples, or with a `front` the block cut by a
    worker (up to `BLOCKS_AHEAD` blocks submitted ahead; a failed one falls back to its samples)."""
    if front is None:
        yield block, block.samples
        while not block.last:
            block = next(rest)
            yield block, block.samples
        return
    ahead: deque[tuple[Block, Future]] = deque([(block, front.submit_samples(block.samples))])
    while ahead:
        while not ahead[-1][0].last and len(ahead) < BLOCKS_AHEAD:
            following = next(rest)
            ahead.append((following, front.submit_samples(following.samples)))
        block, future = ahead.popleft()
        try:
            made = future.result()
        except Exception as exc:  # noqa: BLE001 - the block is cut here instead
            log.warning("the front-half worker failed (%s); cutting this block in this process", exc)
            made = None
        yield block, block.samples if made is None else made


def _transcribe(engine: AsrEngine, item: np.ndarray | Prepared, options: BatchOptions) -> Transcript:
    if isinstance(item, Prepared):
        return engine.transcribe_prepared([item], options.hotwords, timestamps_needed(options))[0]
    return engine.transcribe(item, options.hotwords, timestamps=timestamps_needed(options))


def _recognise_one(engine: AsrEngine, path: Path, item: np.ndarray | Prepared, options: BatchOptions,
                   targets: list[Path]) -> FileResult:
    try:
        transcript = _transcribe(engine, item, options)
    except Exception as exc:  # noqa: BLE001 - one file's failure must not end the batch
        log.debug("recognition failed for %s", path, exc_info=True)
        return FileResult(path, error=f"recognition failed: {exc}")
    return write_outputs(path, transcript, options, targets)


def _in_groups(engine, files: list[Path], targets: list[list[Path]], options: BatchOptions, batch_seconds: float,
               bar, front: FrontHalf | None) -> list[FileResult]:
    """Files recognised together in groups of about `GROUP_BATCHES` batches' worth of audio (enough
    segments to pack batches with little padding); decoding runs ahead in a worker thread. A group
    that fails (a GPU out of memory, one bad recording) is recognised again file by file, so only
    the files that fail alone are reported. With a `front` its workers decode and cut the files."""
    done: dict[int, FileResult] = {}
    group: list[tuple[int, np.ndarray | Prepared]] = []

    def flush() -> None:
        for kind in (Prepared, np.ndarray):  # a file a failed worker left is recognised from its samples
            part = [(i, item) for i, item in group if isinstance(item, kind)]
            members = [(files[i], item) for i, item in part]
            for k, result in _recognise_group(engine, members, options, batch_seconds, [targets[i] for i, _ in part]):
                done[part[k][0]] = _finished_one(result, bar)
        group.clear()

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="decode") as decoder:
        ahead = 2 * front.workers if front else 4
        for k, decoded in _decode_ahead(front, decoder, files, options.block_s, ahead):
            if isinstance(decoded, AudioDecodeError):
                done[k] = _finished_one(undecodable(files[k], decoded), bar)
                continue
            if isinstance(decoded, Prepared):
                group.append((k, decoded))
            elif decoded[0].last:
                group.append((k, decoded[0].samples))
            else:  # a long file is recognised block by block, on its own
                first, rest = decoded
                done[k] = _finished_one(_recognise_blocks(engine, files[k], first, rest, options, targets[k], bar,
                                                          front), bar)
                continue
            if sum(item.size for _, item in group) >= GROUP_BATCHES * batch_seconds * 16000 \
                    or len(group) >= MAX_GROUP_FILES:
                flush()
        if group:
            flush()
    return [done[k] for k in range(len(files))]


def _recognise_group(engine, group: list[tuple[Path, np.ndarray | Prepared]], options: BatchOptions,
                     batch_seconds: float, targets: list[list[Path]]):
    """(index in the group, result) for each file of the group (all `Prepared`, or all samples)."""
    if not group:
        return
    many = engine.transcribe_prepared if isinstance(group[0][1], Prepared) else engine.transcribe_many
    try:
        transcripts = many([item for _, item in group], options.hotwords, timestamps_needed(options), batch_seconds)
    except Exception as exc:  # noqa: BLE001 - retried file by file below
        log.warning("recognising %d files together failed (%s); recognising them one at a time", len(group), exc)
        log.debug("group failure", exc_info=True)
        for k, (path, samples) in enumerate(group):
            yield k, _recognise_one(engine, path, samples, options, targets[k])
        return
    for k, ((path, _), transcript) in enumerate(zip(group, transcripts)):
        yield k, write_outputs(path, transcript, options, targets[k])


def _decode_ahead(front: FrontHalf | None, decoder: ThreadPoolExecutor, files: list[Path], block_s: float,
                  ahead: int):
    """(index, `Prepared` or (first block, the rest) or the AudioDecodeError) in input order, at most
    `ahead` files decoded early."""
    queue: deque[tuple[int, Future]] = deque()
    for k, path in enumerate(files):
        queue.append((k, _start(front, decoder, path, block_s)))
        if len(queue) > ahead:
            yield _decoded(*queue.popleft(), files, block_s)
    while queue:
        yield _decoded(*queue.popleft(), files, block_s)


def _decoded(k: int, future: Future, files: list[Path], block_s: float):
    try:
        return k, _ready(future, files[k], block_s)
    except AudioDecodeError as exc:
        return k, exc


def timestamps_needed(options: BatchOptions) -> bool:
    return any(fmt != "txt" for fmt in options.formats)  # txt is text only: no sentence times needed


def undecodable(path: Path, exc: AudioDecodeError) -> FileResult:
    return FileResult(path, error=str(exc).removeprefix(f"{path}: "))


def write_outputs(path: Path, transcript: Transcript, options: BatchOptions, targets: list[Path]) -> FileResult:
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


def print_summary(results: list[FileResult], out: TextIO, err: TextIO, text_width: int = 40,
                  wall_s: float | None = None) -> None:
    """A table of the good files on `out`, one line per bad file on `err`. The last line's speed is
    over `wall_s` when given (files recognised at once overlap: their own times add up to more)."""
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
        total_proc = sum(r.transcript.processing_s for r in good) if wall_s is None else wall_s
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
