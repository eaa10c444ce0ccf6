"""A simulated room that implements `AudioPort`: the speaker's output echoes back into the mic.

Everything `play`ed is rendered frame by frame (silence when idle), convolved with a synthetic
room impulse response, delayed by the echo path's bulk delay, scaled and added to the mic along
with a scripted user (real recordings through their own room response) and pink noise. The room
records ground truth — when the user spoke, and what the speaker actually played — so tests can
score endpointing and barge-in against it.

Clocks: the mic's sample clock is the room's time, t = frame index x 10 ms. The speaker may run on
its own crystal (`clock_ppm`, + = faster): it then renders (1 + ppm 1e-6) frames per mic frame, and
the mic hears its output stretched accordingly (band-limited interpolation), as with a USB mic
and a separate speaker. Every frame carries `at`, when it passed the converter on the mic's clock,
as PortAudio's ADC/DAC times would report it. `speed` 1.0 paces frames in real time (for
end-to-end runs against real servers); 0 produces them as fast as the consumer pulls (DSP tests),
yielding to the loop each frame so `play()` callers keep up.

Callback order is imitated: rendered frames come in bursts of `render_block`, captured frames in
bursts of `capture_block`, each burst in one go — as two device callbacks on their own clocks.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from support.rir import apply_room, synth_rir
from voiceloop.audio.frames import FRAME_SAMPLES, SAMPLE_RATE
from voiceloop.audio.port import Captured, Rendered

_FRAME_S = FRAME_SAMPLES / SAMPLE_RATE
_NOISE_LOOP_S = 8.0
_TRUTH_OVER_FLOOR_DB = 8.0
_HISTORY = 400 * FRAME_SAMPLES  # speaker samples kept for the echo path (4 s: delay up to 1 s plus drift)
_SINC_HALF = 16  # taps each side of the band-limited interpolator used with clock drift


@dataclass(frozen=True, slots=True)
class RoomSpec:
    """The room. Levels: user clips are normalised to `speech_dbfs` (active-speech RMS); the echo
    is the played signal times a unit-energy RIR times `echo_gain_db`, so assistant audio played
    at `speech_dbfs` reaches the mic `echo_gain_db` louder than the user."""

    rt60_s: float = 0.3
    delay_s: float = 0.05  # bulk echo delay: output buffering + converters + air
    clock_ppm: float = 0.0  # speaker clock against the mic clock, parts per million (+ = speaker fast)
    # Drift the timestamps do not show: the echo path itself runs this much fast (a speaker behind a
    # sound server that does not resample it, or a Bluetooth link's own clock). The streams stay on
    # their nominal rates and times; only what reaches the mic slips, so the echo delay wanders.
    hidden_ppm: float = 0.0
    # A step in the echo path the timestamps do not show either (an output underflow a sound server
    # papers over, a Bluetooth link renegotiating): from mic time `jump_at_s` on, the echo comes
    # `jump_ms` later.
    jump_at_s: float | None = None
    jump_ms: float = 0.0
    echo_gain_db: float = 6.0
    speech_dbfs: float = -32.0  # leaves headroom: echo 6 dB up must not clip
    snr_db: float | None = None  # pink noise relative to speech_dbfs; None = no added noise
    seed: int = 0
    speed: float = 0.0
    duration_s: float | None = None  # frames() ends after this much audio; None = until aclose
    render_block: int = 2
    capture_block: int = 2
    max_queue_s: float = 2.0  # play() waits while more than this is queued


@dataclass(frozen=True, slots=True)
class PlaybackSpan:
    """A stretch of the speaker actually playing queued audio."""

    start_t: float
    end_t: float
    interrupted: bool  # ended by clear(), not by running out of audio


@dataclass(slots=True)
class RoomTruth:
    user_speech: list[tuple[float, float]] = field(default_factory=list)
    playback: list[PlaybackSpan] = field(default_factory=list)
    clears: list[tuple[float, int]] = field(default_factory=list)  # (t, samples dropped)
    ducks: list[tuple[float, float]] = field(default_factory=list)  # (t, gain the reply was set to)


def speech_bounds(samples: np.ndarray, rate: int = SAMPLE_RATE) -> tuple[float, float]:
    """Where speech starts and ends in a clean clip, from its 10 ms energy contour.

    Threshold `_TRUTH_OVER_FLOOR_DB` over the clip's own noise floor (10th percentile) but no
    lower than 45 dB under its peak, on 50 ms-smoothed power; runs shorter than 100 ms (clicks,
    lip smacks) are ignored.
    """
    n = rate // 100
    frames = samples[: len(samples) // n * n].reshape(-1, n)
    power = np.convolve(np.mean(frames.astype(np.float64) ** 2, axis=1), np.ones(5) / 5, mode="same")
    level = 10 * np.log10(power + 1e-12)
    active = level > max(np.percentile(level, 10) + _TRUTH_OVER_FLOOR_DB, level.max() - 45)
    edges = np.flatnonzero(np.diff(np.concatenate([[0], active.astype(np.int8), [0]])))
    runs = [(a, b) for a, b in zip(edges[::2], edges[1::2]) if b - a >= 10]
    if not runs:
        raise ValueError("speech_bounds: no speech found (the clip is silent or pure noise)")
    return runs[0][0] / 100, runs[-1][1] / 100


def normalize_speech(samples: np.ndarray, dbfs: float) -> np.ndarray:
    """Scale a clip so its speech (not its silences) has RMS `dbfs`."""
    start, end = speech_bounds(samples)
    active = samples[int(start * SAMPLE_RATE):int(end * SAMPLE_RATE)]
    rms = float(np.sqrt(np.mean(active.astype(np.float64) ** 2))) or 1e-9
    return (samples * (10 ** (dbfs / 20) / rms)).astype(np.float32)


class SimulatedRoom:
    def __init__(self, spec: RoomSpec = RoomSpec(), script: Sequence[tuple[float, np.ndarray]] = ()):
        if not 0 <= spec.delay_s <= 1.0:
            raise ValueError(f"delay_s={spec.delay_s}: expected 0..1 s of bulk echo delay")
        if not -5000 <= spec.clock_ppm <= 5000:
            raise ValueError(f"clock_ppm={spec.clock_ppm}: expected -5000..5000 ppm between speaker and mic clocks")
        if not -5000 <= spec.hidden_ppm <= 5000:
            raise ValueError(f"hidden_ppm={spec.hidden_ppm}: expected -5000..5000 ppm of echo-path drift")
        self.spec = spec
        self.truth = RoomTruth()
        self._echo_rir = synth_rir(spec.rt60_s, seed=spec.seed)
        self._delay = spec.delay_s * SAMPLE_RATE
        self._ratio = 1.0 + spec.clock_ppm * 1e-6  # speaker samples per mic sample
        self._echo_ratio = self._ratio * (1.0 + spec.hidden_ppm * 1e-6)  # as the echo path reads them
        self._echo_gain = np.float32(10 ** (spec.echo_gain_db / 20))
        self._echo_tail = np.zeros(len(self._echo_rir) + FRAME_SAMPLES, dtype=np.float32)
        self._played = np.zeros(_HISTORY, dtype=np.float32)  # ring of speaker output, by speaker sample
        self._spk_n = 0  # speaker frames rendered
        self._last_loud = -1  # last speaker sample index that was not silent
        self._near = self._build_near(script)
        self._noise = self._build_noise()
        self._queue: deque[np.ndarray] = deque()
        self._queued = 0
        self._rendered = 0
        self._changed = asyncio.Event()  # set whenever the queue shrinks
        self._tick = 0
        self._span_start: float | None = None
        self._closed = False
        self._gain = 1.0
        self.started_at: float | None = None  # loop time (monotonic) of sample 0, once frames() runs

    @property
    def now(self) -> float:
        """Seconds of audio produced so far (the sample clock)."""
        return self._tick * _FRAME_S

    def _build_near(self, script: Sequence[tuple[float, np.ndarray]]) -> np.ndarray:
        if not script:
            return np.zeros(0, dtype=np.float32)
        end = max(int(start * SAMPLE_RATE) + len(clip) for start, clip in script)
        near = np.zeros(end + len(self._echo_rir), dtype=np.float32)
        user_rir = synth_rir(self.spec.rt60_s, seed=self.spec.seed + 1)
        for start, clip in sorted(script, key=lambda item: item[0]):
            b0, b1 = speech_bounds(clip)
            self.truth.user_speech.append((start + b0, start + b1))
            clip = normalize_speech(clip, self.spec.speech_dbfs)
            i = int(start * SAMPLE_RATE)
            padded = np.concatenate([clip, np.zeros(len(user_rir), dtype=np.float32)])
            near[i:i + len(padded)] += apply_room(padded, user_rir, 0.0, 0.0)
        return near

    def _build_noise(self) -> np.ndarray | None:
        if self.spec.snr_db is None:
            return None
        rng = np.random.default_rng(self.spec.seed + 2)
        n = int(_NOISE_LOOP_S * SAMPLE_RATE)
        spectrum = np.fft.rfft(rng.standard_normal(n))
        spectrum[1:] /= np.sqrt(np.arange(1, len(spectrum)))  # 1/f power: pink
        noise = np.fft.irfft(spectrum, n)
        level = 10 ** ((self.spec.speech_dbfs - self.spec.snr_db) / 20)
        return (noise * level / np.sqrt(np.mean(noise**2))).astype(np.float32)

    async def play_at(self, schedule: Sequence[tuple[float, np.ndarray]]) -> None:
        """A scripted assistant: queue each reply once the room's clock reaches its time."""
        for at, samples in schedule:
            while self.now < at:
                await asyncio.sleep(0)
            await self.play(samples)

    async def play(self, samples: np.ndarray) -> None:
        data = np.asarray(samples, dtype=np.float32)
        if data.ndim != 1:
            raise ValueError(f"play: expected mono 16 kHz samples of shape (n,), got {data.shape}")
        limit = int(self.spec.max_queue_s * SAMPLE_RATE)
        while self._queued > limit and not self._closed:
            self._changed.clear()
            await self._changed.wait()
        self._queue.append(data)
        self._queued += len(data)

    @property
    def rendered(self) -> int:
        return self._rendered

    def duck(self, gain: float) -> None:
        if gain != self._gain:
            self._gain = float(gain)
            self.truth.ducks.append((self.now, self._gain))

    def clear(self) -> int:
        dropped = self._queued
        self._queue.clear()
        self._queued = 0
        self.truth.clears.append((self.now, dropped))
        self._end_span(self.now, interrupted=dropped > 0)
        self._changed.set()
        return dropped

    async def wait_played(self) -> None:
        while self._queued > 0 and not self._closed:
            self._changed.clear()
            await self._changed.wait()

    async def aclose(self) -> None:
        self._closed = True
        self._changed.set()

    async def frames(self) -> AsyncIterator[Captured | Rendered]:
        """Rendered and Captured frames in bursts, paced by `speed`, until duration or aclose."""
        loop = asyncio.get_running_loop()
        t_start = self.started_at = loop.time()
        rendered: list[Rendered] = []
        captured: list[Captured] = []
        while not self._closed and (self.spec.duration_s is None or self.now < self.spec.duration_s - 1e-9):
            if self.spec.speed > 0:
                await asyncio.sleep(max(0.0, t_start + self.now / self.spec.speed - loop.time()))
            else:
                await asyncio.sleep(0)
            while self._spk_n < (self._tick + 1) * self._ratio - 1e-9:  # speaker frames due by this frame's end
                played_at = self._spk_n * _FRAME_S / self._ratio
                out = self._render_frame(played_at)
                self._store(out)
                rendered.append(Rendered(out, self._spk_n * _FRAME_S, played_at))
                self._spk_n += 1
            captured.append(Captured(self._mic_frame(), self.now, self.now))
            self._tick += 1
            if len(rendered) >= self.spec.render_block:
                for item in rendered:
                    yield item
                rendered.clear()
            if len(captured) >= self.spec.capture_block:
                for item in captured:
                    yield item
                captured.clear()

    def _render_frame(self, now: float) -> np.ndarray:
        out = np.zeros(FRAME_SAMPLES, dtype=np.float32)
        filled = 0
        while filled < FRAME_SAMPLES and self._queue:
            chunk = self._queue[0]
            take = min(FRAME_SAMPLES - filled, len(chunk))
            out[filled:filled + take] = chunk[:take]
            filled += take
            if take == len(chunk):
                self._queue.popleft()
            else:
                self._queue[0] = chunk[take:]
        if self._gain != 1.0:
            out *= np.float32(self._gain)
        if filled:
            self._queued -= filled
            self._rendered += filled
            self._changed.set()
            if self._span_start is None:
                self._span_start = now
            if not self._queue:
                self._end_span(now + filled / SAMPLE_RATE, interrupted=False)
        return out

    def _end_span(self, end_t: float, interrupted: bool) -> None:
        if self._span_start is not None:
            self.truth.playback.append(PlaybackSpan(self._span_start, end_t, interrupted))
            self._span_start = None

    def _store(self, out: np.ndarray) -> None:
        i = (self._spk_n * FRAME_SAMPLES) % _HISTORY
        self._played[i:i + FRAME_SAMPLES] = out
        loud = np.flatnonzero(out)
        if len(loud):
            self._last_loud = self._spk_n * FRAME_SAMPLES + int(loud[-1])

    def _echo_source(self) -> np.ndarray:
        """What the speaker emits during this mic frame, `delay_s` earlier, on the mic's clock."""
        written = self._spk_n * FRAME_SAMPLES
        delay = self._delay
        if self.spec.jump_at_s is not None and self.now >= self.spec.jump_at_s:
            delay += self.spec.jump_ms * SAMPLE_RATE / 1000
        pos = (self._tick * FRAME_SAMPLES + np.arange(FRAME_SAMPLES) - delay) * self._echo_ratio
        if pos[-1] < 0 or pos[0] - _SINC_HALF > self._last_loud:
            return np.zeros(FRAME_SAMPLES, dtype=np.float32)
        if self._echo_ratio == 1.0 and delay == int(delay):
            idx, frac = pos.astype(np.int64), None
            taps = np.zeros(1, dtype=np.int64)
        else:
            idx = np.floor(pos).astype(np.int64)
            frac = pos - idx
            taps = np.arange(-_SINC_HALF + 1, _SINC_HALF + 1)
        where = idx[:, None] + taps[None, :]
        valid = (where >= 0) & (where < written) & (where >= written - _HISTORY)
        x = np.where(valid, self._played[where % _HISTORY], 0.0)
        if frac is None:
            return x[:, 0].astype(np.float32)
        d = frac[:, None] - taps[None, :]
        kernel = np.sinc(d) * (0.5 + 0.5 * np.cos(np.pi * d / _SINC_HALF))  # Hann-windowed sinc
        return np.sum(x * kernel, axis=1).astype(np.float32)

    def _mic_frame(self) -> np.ndarray:
        tail = self._echo_tail
        dry = self._echo_source()
        if dry.any():
            wet = np.convolve(dry, self._echo_rir) * self._echo_gain
            tail[:len(wet)] += wet
        mic = tail[:FRAME_SAMPLES].copy()
        tail[:-FRAME_SAMPLES] = tail[FRAME_SAMPLES:]
        tail[-FRAME_SAMPLES:] = 0.0
        i = self._tick * FRAME_SAMPLES
        if i < len(self._near):
            near = self._near[i:i + FRAME_SAMPLES]
            mic[:len(near)] += near
        if self._noise is not None:
            j = i % len(self._noise)
            mic += self._noise[j:j + FRAME_SAMPLES]  # the loop length is a whole number of frames
        return np.clip(mic, -1.0, 1.0)
