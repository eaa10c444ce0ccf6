"""Acoustic echo cancellation: take out of the mic what the speaker just played.

The front end hands every engine one reference frame (`render`) before each mic frame
(`capture`): the speaker samples playing when that mic frame was captured, already paired by
time and held back by the measured echo delay (`align`, `echodelay`), so each engine sees a short,
fixed echo path. Used on their own (tests, benchmarks) the engines also take frames in device
callback bursts: AEC3 buffers render frames and estimates the delay itself; speexdsp gets a FIFO of
rendered frames that each capture drains in order.

Engines, chosen by `aec.engine`:
- `webrtc` (default): AEC3 through livekit's `rtc.AudioProcessingModule` (a prebuilt wheel for
  x86_64 and aarch64; nothing to compile), 36-38 dB ERLE, converges in ~0.25 s and finds 0-150 ms
  of delay on its own; optional WebRTC noise suppression (livekit exposes on/off, not a level).
- `speexdsp`: classic MDF adaptive filter; ~26-31 dB and seconds to converge. No noise suppressor
  (the Python binding exposes only the canceller), so `noise_suppression` does not apply.
- `none`: passes the mic through, for rigs with hardware AEC or headsets.
`high_pass` adds an 80 Hz high-pass on the output for every engine (desk rumble, fans); AEC3
already high-passes internally, so for it this is a no-op in practice.
"""

from __future__ import annotations

import logging
from collections import deque
from typing import Protocol

import numpy as np
from scipy.signal import butter, lfilter

from voiceloop.audio.frames import FRAME_SAMPLES, SAMPLE_RATE, to_int16
from voiceloop.config import AecConfig

log = logging.getLogger(__name__)

_HIGH_PASS_HZ = 80.0
_MAX_RENDER_BACKLOG = 50  # frames (0.5 s) of render the speex FIFO holds before dropping the oldest


class EchoCanceller(Protocol):
    converge_s: float
    """Seconds of audible playback the engine needs before its cancellation can be trusted."""

    def render(self, frame: np.ndarray) -> None:
        """Tell the canceller about one 10 ms frame the speaker played (silence included)."""
        ...

    def capture(self, frame: np.ndarray) -> np.ndarray:
        """One 10 ms mic frame in, the same frame with the echo removed out (float32)."""
        ...

    def set_delay_hint_ms(self, ms: int) -> None:
        """The echo delay the engine should expect between a `render` frame and its echo in `capture`."""
        ...


def check_frame(frame: np.ndarray, what: str) -> np.ndarray:
    """Validate one pipeline frame (16 kHz mono float32, 160 samples) and return it as float32.

    A wrong size almost always means the device edge forgot to regroup or resample, so say so.
    """
    if not isinstance(frame, np.ndarray):
        raise TypeError(f"{what}: expected a numpy array of {FRAME_SAMPLES} float32 samples, got {type(frame).__name__}")
    if frame.ndim != 1 or frame.shape[0] != FRAME_SAMPLES:
        raise ValueError(
            f"{what}: expected one 10 ms frame of {FRAME_SAMPLES} mono samples at {SAMPLE_RATE} Hz, "
            f"got shape {frame.shape}; regroup with frames.FrameChunker and resample at the device edge")
    if not np.issubdtype(frame.dtype, np.floating):
        raise ValueError(f"{what}: expected float samples in [-1, 1], got dtype {frame.dtype}; convert with frames.to_mono")
    return frame.astype(np.float32, copy=False)


def check_rate(rate: int, what: str) -> None:
    if rate != SAMPLE_RATE:
        raise ValueError(f"{what}: runs at {SAMPLE_RATE} Hz only, got rate={rate}; resample with frames.resample first")


def _from_int16(data: bytes) -> np.ndarray:
    return np.frombuffer(data, dtype=np.int16).astype(np.float32) / 32768.0


class _HighPass:
    """A stateful 2nd-order Butterworth high-pass, applied frame by frame without edge clicks."""

    def __init__(self, cutoff_hz: float = _HIGH_PASS_HZ):
        # One biquad: lfilter costs a fifth of sosfilt's per-call checks on a 10 ms frame.
        self._b, self._a = butter(2, cutoff_hz, btype="highpass", fs=SAMPLE_RATE)
        self._zi = np.zeros(2)

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        out, self._zi = lfilter(self._b, self._a, frame, zi=self._zi)
        return out.astype(np.float32)


class WebRtcAec:
    """WebRTC AEC3 (with optional WebRTC noise suppression); AGC stays off so levels are honest."""

    converge_s = 2.0  # measured: 30 dB within ~1 s, with dips to ~17 dB until ~2 s on some speech

    def __init__(self, cfg: AecConfig, rate: int = SAMPLE_RATE):
        check_rate(rate, "WebRtcAec")
        from livekit import rtc

        self._frame = rtc.AudioFrame
        self._apm = rtc.AudioProcessingModule(echo_cancellation=True, noise_suppression=cfg.noise_suppression,
                                              high_pass_filter=False, auto_gain_control=False)
        self._hp = _HighPass() if cfg.high_pass else None
        self._delay_ms = 0

    def set_delay_hint_ms(self, ms: int) -> None:
        self._delay_ms = max(0, min(int(ms), 500))

    def _wrap(self, frame: np.ndarray, what: str):
        data = bytearray(to_int16(check_frame(frame, what)).tobytes())
        return self._frame(data, SAMPLE_RATE, 1, FRAME_SAMPLES)

    def render(self, frame: np.ndarray) -> None:
        self._apm.process_reverse_stream(self._wrap(frame, "AEC render frame"))

    def capture(self, frame: np.ndarray) -> np.ndarray:
        wrapped = self._wrap(frame, "AEC capture frame")
        self._apm.set_stream_delay_ms(self._delay_ms)  # a hint only: AEC3 estimates the real delay itself
        self._apm.process_stream(wrapped)  # in place
        out = np.frombuffer(wrapped.data, dtype=np.int16).astype(np.float32) / 32768.0
        return self._hp(out) if self._hp else out


class SpeexAec:
    """speexdsp's MDF canceller; pairs each capture with the oldest unconsumed render frame."""

    converge_s = 6.0

    def __init__(self, cfg: AecConfig, rate: int = SAMPLE_RATE):
        check_rate(rate, "SpeexAec")
        import speexdsp

        taps = rate * cfg.filter_ms // 1000
        self._aec = speexdsp.EchoCanceller.create(FRAME_SAMPLES, taps, rate)
        self._far: deque[bytes] = deque()
        self._silence = bytes(2 * FRAME_SAMPLES)
        self._hp = _HighPass() if cfg.high_pass else None
        if cfg.noise_suppression:
            log.info("aec.noise_suppression has no effect with engine=speexdsp (the binding has no preprocessor)")

    def render(self, frame: np.ndarray) -> None:
        if len(self._far) >= _MAX_RENDER_BACKLOG:
            # Captures stopped arriving (device stall): keep the newest render, the old is stale.
            self._far.popleft()
        self._far.append(to_int16(check_frame(frame, "AEC render frame")).tobytes())

    def capture(self, frame: np.ndarray) -> np.ndarray:
        near = to_int16(check_frame(frame, "AEC capture frame")).tobytes()
        far = self._far.popleft() if self._far else self._silence
        out = _from_int16(self._aec.process(near, far))
        return self._hp(out) if self._hp else out

    def set_delay_hint_ms(self, ms: int) -> None:
        pass  # the MDF filter finds the delay inside its tail (`filter_ms`)


class NoAec:
    """Pass-through for headsets and hardware AEC; still validates frames and can high-pass."""

    converge_s = 0.0

    def __init__(self, cfg: AecConfig, rate: int = SAMPLE_RATE):
        check_rate(rate, "NoAec")
        self._hp = _HighPass() if cfg.high_pass else None

    def render(self, frame: np.ndarray) -> None:
        check_frame(frame, "AEC render frame")

    def capture(self, frame: np.ndarray) -> np.ndarray:
        out = check_frame(frame, "AEC capture frame")
        return self._hp(out) if self._hp else out.copy()

    def set_delay_hint_ms(self, ms: int) -> None:
        pass


def create_echo_canceller(cfg: AecConfig, rate: int = SAMPLE_RATE) -> EchoCanceller:
    engines = {"webrtc": WebRtcAec, "speexdsp": SpeexAec, "none": NoAec}
    if cfg.engine not in engines:
        raise ValueError(f"aec.engine={cfg.engine!r}: expected one of {', '.join(engines)}")
    return engines[cfg.engine](cfg, rate)
