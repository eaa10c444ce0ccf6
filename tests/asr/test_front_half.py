"""Batch recognition with its front half (decode, fbank, VAD, each segment's features) in worker
processes (`asr.prepare`): exactly the transcripts of the in-process path for both engines, in
groups (the GPU path, run here on the CPU) and file by file; a long file, a file that is not audio
and a worker killed mid-batch cost time, never a file."""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
from pathlib import Path

import numpy as np
import pytest

from support.audiofiles import write_audio
from support.cli import run_voiceloop
from support.onnx_models import cfg
from voiceloop.asr.backend import create_paraformer, resolved_models
from voiceloop.asr.paraformer import ParaformerEngine
from voiceloop.asr.prepare import FrontHalf, Prepared, front_setup
from voiceloop.modes.transcribe import BatchOptions, transcribe_files


@pytest.fixture(scope="module")
def files(tmp_path_factory, speech, long_speech) -> list[Path]:
    """Real speech of 2-60 s, a hum, a file that is not audio, and a 60 s file that is two blocks."""
    folder = tmp_path_factory.mktemp("front-half")
    hum = (0.001 * np.random.default_rng(5).standard_normal(16000 * 3)).astype(np.float32)
    clips = [speech, long_speech[: 16000 * 2], hum, speech[16000 * 4:], long_speech[16000 * 20: 16000 * 27]]
    paths = [write_audio(folder / f"r{k}.wav", clip, 16000) for k, clip in enumerate(clips)]
    broken = folder / "r5-broken.wav"
    broken.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    return [*paths[:3], broken, write_audio(folder / "r6-long.wav", long_speech, 16000), *paths[3:]]


def _outcome(results):
    return [(r.path.name, r.error, r.transcript and (r.transcript.text, r.transcript.sentences)) for r in results]


@pytest.fixture(scope="module")
def torch_engine(exported) -> ParaformerEngine:
    dirs, _, _ = exported
    return ParaformerEngine(cfg(dirs, device="cpu", backend="torch"))


def _front(engine_cfg, quantize: bool, workers: int = 2) -> FrontHalf:
    setup = front_setup(resolved_models(engine_cfg), quantize)
    assert setup is not None, "the exported VAD dir has model.onnx"
    return FrontHalf(setup, workers)


@pytest.mark.parametrize("hotwords", [(), ("魔搭", "达摩院")])
def test_torch_groups_from_workers_equal_the_in_process_path(exported, torch_engine, files, tmp_path, hotwords):
    """The GPU path (segments of many files packed into batches), fed by two worker processes; the
    fp32 VAD graph cuts where funasr's torch VAD does, and the features are funasr's to the bit."""
    dirs, _, _ = exported
    options = BatchOptions(formats=("txt", "srt"), output_dir=tmp_path / "a", hotwords=hotwords,
                           batch_seconds=20, block_s=30)
    expected = transcribe_files(torch_engine, files, options)
    engine = Counted(torch_engine)
    with _front(cfg(dirs), quantize=False) as front:
        got = transcribe_files(engine, files, BatchOptions(**{**_fields(options), "output_dir": tmp_path / "b"}),
                               front=front)
    assert _outcome(got) == _outcome(expected)
    assert engine.calls == {"transcribe_prepared": 5 + 3}, "the long file too, its three blocks cut by the workers"
    assert [r.error is None for r in got] == [True, True, True, False, True, True, True]
    assert got[3].error == expected[3].error
    for r in got:
        for output in r.outputs:
            assert output.read_bytes() == (tmp_path / "a" / output.name).read_bytes()


def test_onnx_file_by_file_from_workers_equals_the_in_process_path(exported, files, tmp_path):
    dirs, _, _ = exported
    engine_cfg = cfg(dirs)
    engine = create_paraformer(engine_cfg, jobs=1, batch=True)
    options = BatchOptions(formats=("txt", "json"), output_dir=tmp_path, block_s=30)
    expected = transcribe_files(engine, files, options)
    with _front(engine_cfg, quantize=engine_cfg.quantize) as front:
        got = transcribe_files(engine, files, options, front=front)
    assert _outcome(got) == _outcome(expected)
    assert sum(r.error is None for r in got) == 6


def test_a_worker_killed_mid_batch_loses_no_file(exported, torch_engine, files, tmp_path, caplog):
    """A worker process killed (as the kernel's OOM killer would) breaks the pool: the files in its
    care and every later one are decoded in the main process, and the batch ends complete."""
    dirs, _, _ = exported
    options = BatchOptions(output_dir=tmp_path, batch_seconds=20, block_s=30)
    expected = transcribe_files(torch_engine, files, options)
    with _front(cfg(dirs), quantize=False) as front:
        assert isinstance(front.submit(files[0], 30).result(), Prepared)  # the workers are up
        for child in multiprocessing.active_children():
            os.kill(child.pid, signal.SIGKILL)
        with caplog.at_level(logging.WARNING):
            got = transcribe_files(torch_engine, files, options, front=front)
    assert _outcome(got) == _outcome(expected)
    assert "decoding it again in this process" in caplog.text or "decoding in this process" in caplog.text


class Counted:
    """The real engine, counting the files (or blocks) each of its methods was given."""

    def __init__(self, engine):
        self._engine = engine
        self.batch_seconds = engine.batch_seconds
        self.calls: dict[str, int] = {}

    def __getattr__(self, name: str):
        method = getattr(self._engine, name)

        def counted(items, *args, **kwargs):
            self.calls[name] = self.calls.get(name, 0) + (len(items) if name != "transcribe" else 1)
            return method(items, *args, **kwargs)

        return counted


def _fields(options: BatchOptions) -> dict:
    return {name: getattr(options, name) for name in options.__dataclass_fields__}


def test_the_command_line_with_front_workers_writes_the_same_outputs(exported, tiny_models, files, tmp_path):
    """`voiceloop transcribe --front-workers 2` as a user runs it (ONNX engine) writes what the
    in-process run writes; with a VAD that has no ONNX export it says how to get one and still works."""
    _, config, _ = exported
    inputs = [str(f) for f in files]
    runs = {}
    for workers in ("0", "2"):
        out = tmp_path / f"w{workers}"
        proc = run_voiceloop("transcribe", "--config", str(config), "--front-workers", workers, "--format", "txt,srt",
                             "--output-dir", str(out), *inputs)
        assert proc.returncode == 1 and "r5-broken.wav" in proc.stderr and "1 of 7 file(s) failed" in proc.stderr
        runs[workers] = {p.name: p.read_bytes() for p in sorted(out.iterdir())}
    assert len(runs["0"]) == 12 and runs["2"] == runs["0"]
    assert "decoding, VAD and features in 2 worker processes" in proc.stderr

    torch_only = tmp_path / "torch.yaml"
    torch_only.write_text(f"asr:\n  model: {tiny_models.seaco}\n  vad_model: {tiny_models.vad}\n"
                          f"  punc_model: {tiny_models.punc}\n  device: cpu\n")
    proc = run_voiceloop("transcribe", "--config", str(torch_only), "--front-workers", "2",
                         "--output-dir", str(tmp_path / "t"), inputs[0])
    assert proc.returncode == 0, proc.stderr
    assert "has no ONNX export" in proc.stderr and "voiceloop export-onnx" in proc.stderr
    assert (tmp_path / "t" / "r0.txt").read_text(encoding="utf-8").strip()
    bad = run_voiceloop("transcribe", "--config", str(config), "--front-workers", "-1", inputs[0])
    assert bad.returncode == 2 and "--front-workers -1: expected a whole number" in bad.stderr
