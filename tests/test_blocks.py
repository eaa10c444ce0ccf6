"""Long files in blocks: `voiceloop transcribe` holds a few minutes of audio, not the whole file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from voiceloop.audio.blocks import decoded_blocks
from voiceloop.audio.decode import decode_file
from voiceloop.audio.frames import SAMPLE_RATE
from voiceloop.errors import AudioDecodeError
from voiceloop.modes.transcribe import BatchOptions, transcribe_files

from support.audiofiles import constant_flac, write_audio
from support.cer import cer
from support.recordings import ZH, read_manifest

CLIPS = [ZH / name for name in ("aishell1_BAC009S0724W0121.wav", "funasr_asr_example.wav", "wenet_nst_ID001.wav",
                                 "aishell1_BAC009S0764W0121.wav", "cosyvoice_huang_1.wav", "wenet_nst_ID002.wav")]
GAP_S = 0.6


@pytest.fixture(scope="module")
def talk(tmp_path_factory) -> Path:
    """Six recordings with pauses between them: about 30 s."""
    gap = np.zeros(int(GAP_S * SAMPLE_RATE), np.float32)
    parts = [p for clip in CLIPS for p in (decode_file(clip), gap)]
    return write_audio(tmp_path_factory.mktemp("talk") / "talk.flac", np.concatenate(parts), SAMPLE_RATE)


def test_blocks_join_back_to_the_whole_file_and_are_cut_in_the_pauses(talk):
    whole = decode_file(talk)
    blocks = list(decoded_blocks(talk, block_s=8))
    assert len(blocks) >= 3 and [b.last for b in blocks] == [False] * (len(blocks) - 1) + [True]
    np.testing.assert_array_equal(np.concatenate([b.samples for b in blocks]), whole)
    assert [b.start for b in blocks] == list(np.cumsum([0] + [b.samples.size for b in blocks[:-1]]))
    for b in blocks[:-1]:
        assert b.samples.size <= 8 * SAMPLE_RATE
        cut = b.start + b.samples.size
        around = whole[cut - 800: cut + 800]
        assert np.sqrt(np.mean(np.square(around))) < 1e-3, f"cut at {cut / SAMPLE_RATE:.2f} s is not in a pause"


def test_a_file_shorter_than_a_block_is_one_block(talk):
    (block,) = decoded_blocks(talk)
    assert block.last and block.start == 0
    np.testing.assert_array_equal(block.samples, decode_file(talk))


def test_a_long_silent_file_is_reported_as_silent(tmp_path):
    silent = write_audio(tmp_path / "silent.wav", np.zeros(5 * SAMPLE_RATE, np.float32), SAMPLE_RATE)
    with pytest.raises(AudioDecodeError, match="silent.wav: audio is silent"):
        list(decoded_blocks(silent, block_s=1))


@pytest.mark.slow  # three hours decoded: about ten seconds
def test_three_hours_are_decoded_in_the_memory_of_one_block(tmp_path):
    """In a fresh process (what earlier tests left in the allocator blurs a peak): three hours are
    660 MB of float32; the blocks (a 5-minute block is 19 MB, held at most three times while it is
    cut) and the decoder's own memory (114 MB in all, measured) cost the same whether the file
    lasts ten minutes or three hours."""
    three = constant_flac(tmp_path / "three.flac", 3 * 3600)
    measure = ("import sys; from support.memory import PeakRss; from voiceloop.audio.blocks import decoded_blocks\n"
               "with PeakRss() as rss:\n    n = sum(b.samples.size for b in decoded_blocks(sys.argv[1]))\n"
               "print(n, rss.growth_mb)")
    out = subprocess.run([sys.executable, "-c", measure, str(three)], capture_output=True, text=True, timeout=300,
                         env={**os.environ, "PYTHONPATH": str(Path(__file__).parent)}, check=True).stdout.split()
    assert int(out[0]) == 3 * 3600 * SAMPLE_RATE
    assert float(out[1]) < 200, f"{float(out[1]):.0f} MB resident to decode three hours in blocks"


def test_a_file_recognised_in_blocks_reads_as_the_recordings_with_times_on_the_files_clock(
        talk, whisper, tmp_path):
    references = read_manifest()
    options = BatchOptions(formats=("json",), output_dir=tmp_path, block_s=8)
    (result,) = transcribe_files(whisper, [talk], options)
    assert result.error is None, result.error
    doc = json.loads((tmp_path / "talk.json").read_text(encoding="utf-8"))
    expected = "".join(references[clip.name] for clip in CLIPS)
    rate = cer(expected, doc["text"])
    assert rate <= 0.35, f"CER {rate:.2f}: {doc['text']}"
    assert abs(doc["duration_s"] - decode_file(talk).size / SAMPLE_RATE) < 0.01
    starts = [s["start_ms"] for s in doc["sentences"]]
    assert starts == sorted(starts) and starts[-1] > 20000, doc["sentences"]
    assert doc["sentences"][-1]["end_ms"] <= doc["duration_s"] * 1000 + 50
