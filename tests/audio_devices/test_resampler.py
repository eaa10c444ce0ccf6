"""The device-edge resampler and the playback buffer, without any device."""

from __future__ import annotations

import numpy as np
import pytest
from support.device_signals import dominant_hz, sine, tone_residual_db

from voiceloop.audio.playbuffer import PlaybackBuffer
from voiceloop.audio.resampler import StreamResampler

pytestmark = pytest.mark.unit  # pure DSP on arrays: no device, despite the folder

RATES = [(48000, 16000), (16000, 48000), (44100, 16000), (16000, 44100), (22050, 16000), (16000, 16000)]


@pytest.mark.parametrize(("src", "dst"), RATES)
def test_any_block_split_gives_the_one_shot_output(src, dst):
    x = np.random.default_rng(1).standard_normal(src).astype(np.float32)
    whole = StreamResampler(src, dst).push(x)
    rs, parts, i = StreamResampler(src, dst), [], 0
    for size in np.random.default_rng(2).integers(1, 1000, size=10_000):
        if i >= len(x):
            break
        parts.append(rs.push(x[i:i + size]))
        i += size
    blockwise = np.concatenate(parts)
    assert len(whole) == len(blockwise) == dst  # one second in, one second out
    np.testing.assert_array_equal(whole, blockwise)


@pytest.mark.parametrize(("src", "dst"), RATES)
def test_a_tone_keeps_its_frequency_and_level_with_no_clicks(src, dst):
    rs = StreamResampler(src, dst)
    out = np.concatenate([rs.push(block) for block in np.array_split(sine(1000, 1.0, rate=src), 97)])
    steady = out[dst // 10: -dst // 10]
    assert abs(dominant_hz(steady, dst) - 1000) < 1.5
    assert abs(np.abs(steady).max() - 0.5) < 0.005
    assert tone_residual_db(steady, 1000, dst) < -60  # a click at any block edge would show here


def test_reset_forgets_the_history():
    rs = StreamResampler(48000, 16000)
    rs.push(np.ones(4800, dtype=np.float32))
    rs.reset()
    assert np.all(rs.push(np.zeros(4800, dtype=np.float32)) == 0)


def test_playback_buffer_wraps_bounds_and_clears():
    buf = PlaybackBuffer(10)
    assert buf.write(np.arange(8, dtype=np.float32)) == 8
    out = np.zeros(5, dtype=np.float32)
    assert buf.read_into(out) == 5 and list(out) == [0, 1, 2, 3, 4]
    assert buf.write(np.arange(100, 110, dtype=np.float32)) == 7  # bounded: only what fits
    out = np.zeros(12, dtype=np.float32)
    assert buf.read_into(out) == 10
    assert list(out) == [5, 6, 7, 100, 101, 102, 103, 104, 105, 106, 0, 0]
    buf.write(np.ones(4, dtype=np.float32))
    assert buf.clear() == 4 and len(buf) == 0 and buf.read_into(out) == 0
