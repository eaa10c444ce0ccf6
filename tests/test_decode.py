"""File decoding: every common container, any rate and channel count, to 16 kHz mono; bad files named."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from voiceloop.audio.decode import AudioTooLong, decode_file, decoded_chunks
from voiceloop.audio.frames import SAMPLE_RATE, resample
from voiceloop.errors import AudioDecodeError

from support.audiofiles import constant_flac, write_audio
from support.memory import PeakRss

CLIP = "aishell1_BAC009S0724W0121.wav"


@pytest.fixture(scope="module")
def speech(zh_audio) -> np.ndarray:
    return decode_file(zh_audio / CLIP)


def _aligned_correlation(decoded: np.ndarray, reference: np.ndarray) -> float:
    """Correlation after removing the codec's start delay (AAC/Opus priming)."""
    probe = reference[8000:24000]
    lag = int(np.argmax(np.correlate(decoded[:32000], probe, "valid"))) - 8000
    a = decoded[max(lag, 0):]
    n = min(len(a), len(reference))
    return float(np.corrcoef(a[:n], reference[:n])[0, 1])


@pytest.mark.parametrize("suffix, rate, channels", [
    (".wav", 44100, 2), (".wav", 8000, 1), (".flac", 22050, 1), (".mp3", 48000, 2),
    (".ogg", 48000, 1), (".m4a", 44100, 2)])
def test_decodes_to_16k_mono_matching_the_source(tmp_path, speech, suffix, rate, channels):
    path = write_audio(tmp_path / f"clip{suffix}", resample(speech, SAMPLE_RATE, rate), rate, channels)
    decoded = decode_file(path)
    assert decoded.dtype == np.float32 and decoded.ndim == 1
    assert abs(len(decoded) / SAMPLE_RATE - len(speech) / SAMPLE_RATE) < 0.06
    # 8 kHz loses everything above 4 kHz, the lossy codecs lose a little more.
    assert _aligned_correlation(decoded, speech) > (0.9 if rate == 8000 else 0.98)


def test_real_recording_has_the_manifest_duration(zh_audio, speech):
    assert abs(len(speech) / SAMPLE_RATE - 4.28) < 0.01
    assert 0.05 < float(np.max(np.abs(speech))) <= 1.0


@pytest.mark.parametrize("make, reason", [
    (lambda p: p, "no such file"),
    (lambda p: (p.write_bytes(b""), p)[1], "file is empty (0 bytes)"),
    (lambda p: (p.write_text("这不是音频 just text\n" * 50), p)[1], "not a recognised audio file"),
    (lambda p: (p.mkdir(), p)[1], "is a directory"),
])
def test_bad_files_raise_with_the_file_named(tmp_path, make, reason):
    path = make(tmp_path / "input.wav")
    with pytest.raises(AudioDecodeError) as info:
        decode_file(path)
    assert str(info.value).startswith(f"{path}: ")
    assert reason in str(info.value)


def test_silent_file_is_reported_as_silent(tmp_path):
    path = write_audio(tmp_path / "silence.flac", np.zeros(SAMPLE_RATE * 2, dtype=np.float32), SAMPLE_RATE)
    with pytest.raises(AudioDecodeError, match="audio is silent"):
        decode_file(path)


def test_truncated_file_keeps_what_decodes_or_says_why(tmp_path, speech):
    whole = write_audio(tmp_path / "whole.mp3", speech, SAMPLE_RATE)
    data = whole.read_bytes()
    half = tmp_path / "half.mp3"
    half.write_bytes(data[: len(data) // 2])
    decoded = decode_file(half)
    assert 1.5 < len(decoded) / SAMPLE_RATE < 2.8
    header_only = tmp_path / "header.wav"
    header_only.write_bytes(write_audio(tmp_path / "full.wav", speech, SAMPLE_RATE).read_bytes()[:44])
    with pytest.raises(AudioDecodeError) as info:
        decode_file(header_only)
    assert str(header_only) in str(info.value)


def test_a_long_file_is_held_once_and_a_limit_stops_it_early(tmp_path):
    """An hour decodes into one buffer (220 MiB), not a list of chunks joined into a second copy;
    with `max_s` decoding stops as soon as it passes the limit."""
    hour = constant_flac(tmp_path / "hour.flac", 3600)
    # In a fresh process: inside the test run, what earlier tests left in the allocator blurs the peak.
    measure = ("import sys; from support.memory import PeakRss; from voiceloop.audio.decode import decode_file\n"
               "with PeakRss() as rss:\n    samples = decode_file(sys.argv[1])\n"
               "print(samples.size, samples.nbytes / 2**20, rss.growth_mb)")
    out = subprocess.run([sys.executable, "-c", measure, str(hour)], capture_output=True, text=True, timeout=300,
                         env={**os.environ, "PYTHONPATH": str(Path(__file__).parent)}, check=True).stdout.split()
    size, held, growth = int(out[0]), float(out[1]), float(out[2])
    assert size == 3600 * SAMPLE_RATE and 215 < held < 225
    # one copy, at most a quarter of spare room, and the decoder's own working memory (measured ~30 MB)
    assert growth < 1.25 * held + 40, f"{growth:.0f} MB resident to decode {held:.0f} MB of audio"
    with pytest.raises(AudioTooLong, match="longer than 60 s"), PeakRss() as rss:
        decode_file(hour, max_s=60)
    assert rss.growth_mb < 30


def test_a_header_announcing_more_than_the_limit_is_refused_before_a_sample_is_decoded(tmp_path):
    """Ten hours of FLAC in 7 MB: its STREAMINFO says how long it is, so nothing is decoded."""
    ten = constant_flac(tmp_path / "ten hours.flac", 36000)
    chunks = decoded_chunks(ten, max_s=4 * 3600)
    with pytest.raises(AudioTooLong) as info:
        next(chunks)
    assert str(info.value) == f"{ten}: the file says its audio lasts 36000 s, longer than 14400 s"


def test_raw_pcm_past_the_limit_is_stopped_by_the_count_of_decoded_samples(tmp_path, speech):
    """A WAV's header is not trusted (a truncated one overstates): its samples are counted."""
    wav = write_audio(tmp_path / "long.wav", np.tile(speech, 4), SAMPLE_RATE)
    decoded = 0
    with pytest.raises(AudioTooLong, match=r"long.wav: the audio is longer than 10 s"):
        for chunk in decoded_chunks(wav, max_s=10):
            decoded += chunk.size
    assert 9 * SAMPLE_RATE < decoded <= 10 * SAMPLE_RATE
