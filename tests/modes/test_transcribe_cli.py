"""`voiceloop transcribe` as a user runs it: real recordings, a real model (Whisper base from PyPI)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from voiceloop.audio.decode import decode_file
from voiceloop.audio.frames import SAMPLE_RATE

from support.recordings import read_manifest
from support.audiofiles import write_audio
from support.cli import run_voiceloop
from support.cer import cer, edit_distance, normalise

AISHELL = ("aishell1_BAC009S0724W0121.wav", "aishell1_BAC009S0764W0121.wav")


@pytest.fixture(scope="module")
def batch(tmp_path_factory, zh_audio, whisper_base_dir):
    """One batch run over good and bad files; the tests below read what it produced."""
    root = tmp_path_factory.mktemp("batch")
    inputs = root / "in"
    inputs.mkdir()
    for name in AISHELL:
        shutil.copy(zh_audio / name, inputs / name)
    speech = decode_file(zh_audio / "funasr_asr_example.wav")
    write_audio(inputs / "example.mp3", speech, SAMPLE_RATE)
    (inputs / "empty.wav").write_bytes(b"")
    (inputs / "notes.m4a").write_text("not audio at all\n")
    write_audio(inputs / "silence.flac", np.zeros(SAMPLE_RATE, dtype=np.float32), SAMPLE_RATE)
    config = root / "voiceloop.yaml"
    config.write_text(f"asr:\n  engine: whisper\n  device: cpu\n  whisper:\n    model: {whisper_base_dir}\n")
    out = root / "out"
    proc = run_voiceloop("transcribe", "--config", str(config), "--format", "txt,json,srt,tsv",
                      "--output-dir", str(out), str(inputs), str(root / "missing.wav"))
    return proc, out


def test_bad_files_are_reported_and_good_ones_finished(batch):
    proc, out = batch
    assert proc.returncode == 1, proc.stderr
    err = proc.stderr
    assert "empty.wav: file is empty (0 bytes)" in err
    assert "notes.m4a: not a recognised audio file" in err
    assert "silence.flac: audio is silent" in err
    assert "missing.wav: no such file or folder" in err
    assert "4 of 7 file(s) failed" in err
    for stem in ("aishell1_BAC009S0724W0121", "aishell1_BAC009S0764W0121", "example"):
        for fmt in ("txt", "json", "srt", "tsv"):
            assert (out / f"{stem}.{fmt}").stat().st_size > 0
    assert not [p for p in out.iterdir() if p.name.startswith(".")], "temporary files left behind"
    table = proc.stdout.splitlines()
    assert table[0].split() == ["file", "duration", "text", "proc", "s", "x", "realtime"]
    assert any(line.startswith("example.mp3") for line in table)
    assert table[-1].startswith("3 file(s),")


def test_json_and_subtitles_carry_text_and_timing(batch):
    _, out = batch
    doc = json.loads((out / "example.json").read_text(encoding="utf-8"))
    assert doc["engine"] == "whisper" and doc["model"]
    assert abs(doc["duration_s"] - 5.55) < 0.05
    assert doc["processing_s"] > 0 and doc["real_time_factor"] == pytest.approx(
        doc["processing_s"] / doc["duration_s"], rel=0.01)
    assert doc["sentences"] and doc["sentences"][-1]["end_ms"] <= doc["duration_s"] * 1000 + 100
    assert normalise(doc["text"]) == "".join(normalise(s["text"]) for s in doc["sentences"])
    srt = (out / "example.srt").read_text(encoding="utf-8")
    assert srt.startswith("1\n00:00:00,000 --> 00:00:0")
    assert (out / "example.txt").read_text(encoding="utf-8").strip() == doc["text"]


def test_whisper_base_cer_on_aishell_is_within_35_percent(batch):
    _, out = batch
    refs = read_manifest("zh")
    errors = total = 0
    for name in AISHELL:
        hyp = json.loads((out / name.replace(".wav", ".json")).read_text(encoding="utf-8"))["text"]
        errors += edit_distance(normalise(hyp), normalise(refs[name]))
        total += len(normalise(refs[name]))
    assert errors / total <= 0.35, f"CER {errors / total:.1%}"


def test_cer_helper_counts_edits():
    assert cer("广州市房地产中介协会分析", "广州市房地产中介协会分析。") == 0
    assert cer("廣州市房地產", "广州市房地产") == 0
    assert cer("广州市佛地产", "广州市房地产") == pytest.approx(1 / 6)


def test_bad_format_and_no_inputs(tmp_path):
    proc = run_voiceloop("transcribe", "--format", "docx", str(tmp_path / "a.wav"), env_extra={"HOME": str(tmp_path)})
    assert proc.returncode == 2 and "--format docx: expected txt, json, srt, tsv" in proc.stderr
    empty = tmp_path / "nothing"
    empty.mkdir()
    proc = run_voiceloop("transcribe", str(empty), env_extra={"HOME": str(tmp_path)})
    assert proc.returncode == 1 and "folder contains no audio files" in proc.stderr
    proc = run_voiceloop("transcribe", "--ray", env_extra={"HOME": str(tmp_path)})
    assert proc.returncode == 2 and "name at least one FILE or DIR to transcribe" in proc.stderr
