"""The torch path drives funasr's models step by step and packs VAD segments of many recordings into
one batch (a GPU's throughput); every recording must still get exactly the transcript funasr's own
`AutoModel.generate` gives it alone.

CI has no GPU, so the packing runs here on the CPU with the same code (a batch of padded segments
through the tiny random-weight SeACo model); bench/asr_throughput.py measures it on CUDA.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from support.audiofiles import write_audio
from support.cer import edit_distance, normalise
from support.gpu_faults import OutOfMemoryInBatches
from voiceloop.asr.batching import pack_by_duration
from voiceloop.asr.device import resolve_precision
from voiceloop.asr.paraformer import ParaformerEngine
from voiceloop.asr.results import hotword_argument, parse_results
from voiceloop.config import AsrConfig
from voiceloop.errors import ConfigError
from voiceloop.modes.transcribe import BatchOptions, transcribe_files


@given(st.lists(st.integers(0, 90_000), max_size=60), st.integers(0, 400_000), st.integers(1, 90_000))
def test_packs_hold_every_segment_once_within_the_budget(lengths, budget, alone_from):
    packs = pack_by_duration(lengths, budget, alone_from)
    assert sorted(k for pack in packs for k in pack) == list(range(len(lengths)))
    for pack in packs:
        longest = max(lengths[k] for k in pack)
        assert len(pack) == 1 or (longest * len(pack) <= budget and longest < alone_from)
    firsts = [min(lengths[k] for k in pack) for pack in packs]
    assert firsts == sorted(firsts), "shortest first: each pack's members are alike in length"


def test_packing_examples():
    assert pack_by_duration([5, 1, 3, 2], budget=9, alone_from=100) == [[1, 3, 2], [0]]
    assert pack_by_duration([5, 1, 3, 2], budget=6, alone_from=100) == [[1, 3], [2], [0]]
    assert pack_by_duration([5, 1, 3], budget=0, alone_from=100) == [[1], [2], [0]], "budget 0: one at a time"
    assert pack_by_duration([70, 1, 80], budget=10_000, alone_from=60) == [[1], [0], [2]]


@pytest.mark.parametrize(("requested", "device", "bf16"), [
    ("fp32", "cpu", False), ("fp32", "cuda:0", True), ("fp16", "cuda:1", False), ("bf16", "cuda:0", True)])
def test_a_precision_the_device_runs_is_taken_as_asked(requested, device, bf16):
    assert resolve_precision(requested, device, bf16) == requested


def test_half_precision_where_it_cannot_run_names_the_fix():
    with pytest.raises(ConfigError, match=r"asr.precision: bf16 runs on a CUDA GPU only.*set asr.precision to fp32"):
        resolve_precision("bf16", "cpu", False)
    with pytest.raises(ConfigError, match="no bf16.*set asr.precision to fp16"):
        resolve_precision("bf16", "cuda:0", False)


def test_a_cpu_config_asking_for_fp16_fails_at_load(tiny_models):
    with pytest.raises(ConfigError, match="fp16 runs on a CUDA GPU only"):
        ParaformerEngine(_config(tiny_models, precision="fp16"))


def _config(models, **overrides) -> AsrConfig:
    base = AsrConfig(model=str(models.seaco), vad_model=str(models.vad), punc_model=str(models.punc), threads=2,
                     device="cpu", backend="torch")
    return replace(base, **overrides)


@pytest.fixture(scope="module")
def engine(tiny_models) -> ParaformerEngine:
    return ParaformerEngine(_config(tiny_models))


@pytest.fixture(scope="module")
def recordings(speech, long_speech) -> list[np.ndarray]:
    """Lengths from 2 s to a minute, one with no speech at all, so packs mix segments of many files."""
    rng = np.random.default_rng(5)
    hum = (0.001 * rng.standard_normal(16000 * 3)).astype(np.float32)
    return [speech, long_speech[: 16000 * 2], hum, long_speech, speech[16000 * 4:], long_speech[16000 * 20: 16000 * 27]]


@pytest.fixture(scope="module")
def funasr_alone(tiny_models, recordings):
    """Reference: funasr's own pipeline (`generate`: VAD, ASR, punctuation, sentences), one recording
    at a time, with and without hotwords."""
    from funasr import AutoModel

    model = AutoModel(model=str(tiny_models.seaco), vad_model=str(tiny_models.vad), punc_model=str(tiny_models.punc),
                      device="cpu", disable_update=True, disable_pbar=True, log_level="ERROR")

    def run(audio: np.ndarray, hotwords: tuple[str, ...]):
        options = {"hotword": hotword_argument(hotwords)} if hotwords else {}
        results = model.generate(audio, batch_size_s=300, sentence_timestamp=True, **options)
        return parse_results(results, int(audio.size / 16))

    return {hw: [run(audio, hw) for audio in recordings] for hw in ((), ("魔搭", "达摩院"))}


@pytest.mark.parametrize("hotwords", [(), ("魔搭", "达摩院")])
@pytest.mark.parametrize("batch_seconds", [0, 20])
def test_batched_recordings_get_funasrs_own_transcripts(engine, recordings, funasr_alone, hotwords, batch_seconds):
    """Budget 20 s packs segments of 1-15 s from different recordings, padded to the longest."""
    expected = funasr_alone[hotwords]
    got = engine.transcribe_many(recordings, hotwords, batch_seconds=batch_seconds)
    assert [(t.text, t.sentences) for t in got] == expected
    assert got[2].text == "" and all(t.text for k, t in enumerate(got) if k != 2)
    assert [t.duration_s for t in got] == [r.size / 16000 for r in recordings]


def test_heavy_padding_moves_at_most_a_token_or_two(engine, recordings, funasr_alone):
    """With 300 s a 3 s segment can be padded to 15 s; on random weights, where the decoder's choices
    are near ties, that moves a segment's last token or two (funasr's own GPU batching does the same).
    Sentences stay, their times within 0.1 s; bench/asr_throughput.py reports the agreement on the full-size model."""
    got = engine.transcribe_many(recordings, batch_seconds=300)
    for transcript, (text, sentences) in zip(got, funasr_alone[()]):
        assert len(transcript.sentences) == len(sentences)
        assert all(abs(a.start_ms - b.start_ms) <= 100 for a, b in zip(transcript.sentences, sentences))
        assert agreement(transcript.text, text) >= 0.9


def test_one_recording_alone_is_the_same_call(engine, recordings, funasr_alone):
    assert [(t.text, t.sentences) for t in map(engine.transcribe, recordings)] == funasr_alone[()]


def test_a_batch_costs_its_recordings_their_share_of_the_time(engine, recordings):
    got = engine.transcribe_many(recordings, batch_seconds=300)
    rates = [t.processing_s / t.duration_s for t in got]
    assert min(rates) > 0 and max(rates) == pytest.approx(min(rates), rel=1e-6)


def test_transcribe_groups_files_and_reports_the_bad_one(engine, recordings, funasr_alone, tmp_path: Path):
    """`voiceloop transcribe` on a GPU: files gathered into groups, written as each group is done; a
    file that cannot be decoded is named and the others are finished."""
    files = [write_audio(tmp_path / f"r{k}.wav", audio, 16000) for k, audio in enumerate(recordings)]
    broken = tmp_path / "r9-broken.wav"
    broken.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    inputs = [*files[:3], broken, *files[3:]]
    out = tmp_path / "out"
    options = BatchOptions(formats=("txt", "srt"), output_dir=out, batch_seconds=20)
    results = transcribe_files(engine, inputs, options)
    assert [r.path for r in results] == inputs
    assert results[3].error and "r9-broken" not in results[3].error and not results[3].outputs
    good = [r for r in results if r.error is None]
    assert [r.transcript.text for r in good] == [text for text, _ in funasr_alone[()]]
    for r, (text, _) in zip(good, funasr_alone[()]):
        assert (out / f"{r.path.stem}.txt").read_text(encoding="utf-8").strip() == text
        assert (out / f"{r.path.stem}.srt").is_file()


def agreement(text: str, reference: str) -> float:
    return 1 - edit_distance(normalise(text), normalise(reference)) / max(1, len(normalise(reference)))


def test_a_group_that_fails_is_recognised_file_by_file(engine, recordings, funasr_alone, tmp_path: Path, caplog):
    files = [write_audio(tmp_path / f"r{k}.wav", audio, 16000) for k, audio in enumerate(recordings)]
    results = transcribe_files(OutOfMemoryInBatches(engine), files, BatchOptions(output_dir=tmp_path / "out"))
    assert [r.error for r in results] == [None] * len(files)
    assert [r.transcript.text for r in results] == [text for text, _ in funasr_alone[()]]
    assert "recognising them one at a time" in caplog.text and "CUDA out of memory" in caplog.text
