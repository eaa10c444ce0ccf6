"""Incremental MP3 decoding (what Edge TTS streams) on a real recording encoded by LAME."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from support.audiofiles import write_audio

from voiceloop.audio.decode import decode_file
from voiceloop.audio.frames import resample
from voiceloop.tts.mp3 import Mp3StreamDecoder


@pytest.fixture(scope="module")
def speech_mp3(zh_audio, tmp_path_factory) -> tuple[np.ndarray, Path]:
    """A real Mandarin recording as a 24 kHz mono MP3, the format Edge TTS sends."""
    speech = decode_file(zh_audio / "funasr_asr_example.wav")
    path = tmp_path_factory.mktemp("mp3") / "speech.mp3"
    return speech, write_audio(path, resample(speech, 16000, 24000), 24000)


def decode_in_pieces(data: bytes, sizes: np.ndarray) -> tuple[np.ndarray, Mp3StreamDecoder]:
    dec = Mp3StreamDecoder()
    out, pos, k = [], 0, 0
    while pos < len(data):
        step = int(sizes[k % len(sizes)])
        out.append(dec.push(data[pos:pos + step]))
        pos, k = pos + step, k + 1
    out.append(dec.flush())
    return np.concatenate(out), dec


def test_small_random_chunks_decode_exactly_like_the_whole_stream(speech_mp3):
    _, path = speech_mp3
    data = path.read_bytes()
    whole, _ = decode_in_pieces(data, np.array([len(data)]))
    sizes = np.random.default_rng(7).integers(1, 600, size=500)
    pieces, dec = decode_in_pieces(data, sizes)
    assert dec.bad_frames == 0
    assert pieces.dtype == np.float32
    np.testing.assert_array_equal(pieces, whole)


def test_audio_arrives_before_the_stream_ends(speech_mp3):
    _, path = speech_mp3
    data = path.read_bytes()
    dec = Mp3StreamDecoder()
    first = np.concatenate([dec.push(data[i:i + 512]) for i in range(0, len(data) // 4, 512)])
    assert first.size > 16000 * 0.5  # a quarter of the bytes already gave > 0.5 s of audio


def test_decoded_audio_is_the_recording(speech_mp3):
    speech, path = speech_mp3
    pcm, _ = decode_in_pieces(path.read_bytes(), np.array([333]))
    n = 16000 * 3
    corr = np.correlate(pcm[: n + 4000], speech[:n], "valid")
    lag = int(np.argmax(corr))  # the encoder's delay and the LAME info frame come first
    assert lag < 3000
    aligned = pcm[lag: lag + speech.size]
    assert abs(pcm.size - lag - speech.size) < 1600  # within 0.1 s of the original length
    assert np.corrcoef(aligned, speech[: aligned.size])[0, 1] > 0.98
    reference = decode_file(path)  # the container decoder agrees on the audio
    assert abs(reference.size - speech.size) < 1600


def test_garbage_yields_nothing_rather_than_crashing():
    dec = Mp3StreamDecoder()
    noise = np.random.default_rng(1).integers(0, 256, 5000, dtype=np.uint8).tobytes()
    out = np.concatenate([dec.push(noise), dec.flush()])
    assert out.size < 16000 * 0.2
