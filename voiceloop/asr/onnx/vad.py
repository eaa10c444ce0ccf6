"""FSMN-VAD on onnxruntime: a whole recording -> speech segments [start_ms, end_ms].

The network gives a silence probability per 10 ms frame; what turns those into segments is
funasr's post-processing (`FsmnVADStreaming`), re-implemented here for the offline case only
(the whole input known, multiple utterances, no streaming output):

- a frame is speech when it is louder than `decibel_thres`, `1 - p_sil >= p_sil + speech_noise_thres`
  and its SNR against a running noise level is above `snr_thres`;
- a 200 ms sliding window turns frames into sil->speech / speech->sil changes (150 ms of votes);
- a segment starts `window + lookback_time_start_point` before the change is confirmed and ends
  after enough trailing silence (minus `lookahead_time_end_point`), or at `max_single_segment_time`;
- like funasr 1.4.16 offline, the input is handled in 60 s chunks and the trailing silence that
  ends a segment follows its schedule: 2 s while no speech has been seen in the chunk sequence, then
  200 ms once a segment has run past a chunk boundary, back to 2 s after each segment; the
  speech/noise margin is 0.5 whatever the config says. This is what makes the segments equal to
  the torch path's.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from voiceloop.asr.onnx.front import FrontConfig, Frontend, load_cmvn
from voiceloop.asr.onnx.session import open_session, read_model_config, require_file

CHUNK_MS = 60000
SCHEDULE = ((10000, 2000), (20000, 1000), (30000, 800), (40000, 600), (50000, 400), (60000, 200),
            (math.inf, 100))
_START_NOT_DETECTED, _IN_SPEECH, _END_DETECTED = 1, 2, 3


@dataclass(frozen=True, slots=True)
class VadOptions:
    decibel_thres: float = -100.0
    snr_thres: float = -100.0
    speech_2_noise_ratio: float = 1.0
    noise_frame_num_used_for_snr: int = 100
    sil_pdf_ids: tuple[int, ...] = (0,)
    window_size_ms: int = 200
    sil_to_speech_time_thres: int = 150
    speech_to_sil_time_thres: int = 150
    lookback_time_start_point: int = 200
    lookahead_time_end_point: int = 100
    max_single_segment_time: int = 60000
    do_extend: int = 1
    frame_in_ms: int = 10
    frame_length_ms: int = 25
    sample_rate: int = 16000

    @classmethod
    def from_model_config(cls, conf: dict) -> VadOptions:
        mc = conf.get("model_conf") or {}
        known = {k: mc[k] for k in cls.__dataclass_fields__ if k in mc}
        if "sil_pdf_ids" in known:
            known["sil_pdf_ids"] = tuple(int(i) for i in known["sil_pdf_ids"])
        return cls(**known)


class OnnxVad:
    def __init__(self, model_dir: Path, quantize: bool, threads: int):
        conf = read_model_config(model_dir)
        self.opts = VadOptions.from_model_config(conf)
        self._front = Frontend(FrontConfig.from_model_config(conf), load_cmvn(model_dir / "am.mvn"))
        self._session = open_session(require_file(model_dir, "model", quantize, "asr.vad_model"), threads)
        self._caches = [(i.name, i.shape) for i in self._session.get_inputs() if i.name.startswith("in_cache")]

    @property
    def front(self) -> Frontend:
        return self._front

    def segments(self, samples: np.ndarray, fbank: np.ndarray | None = None) -> list[tuple[int, int]]:
        """`fbank`: `self.front.fbank(samples)` when the caller computed it already."""
        return [segment for ready in self.iter_segments(samples, fbank) for segment in ready]

    def iter_segments(self, samples: np.ndarray, fbank: np.ndarray | None = None) -> Iterator[list[tuple[int, int]]]:
        """The segments 60 s at a time, as each chunk completes them (funasr's offline chunking), so a
        caller can recognise the first ones while the rest of a long file is still being cut."""
        samples = np.asarray(samples, np.float32)
        fbank = self._front.fbank(samples) if fbank is None else fbank
        if fbank.shape[0] == 0:
            return
        sil = np.empty(fbank.shape[0], np.float32)
        pieces = self._silence_probs(fbank, sil)
        decibel = frame_decibels(samples, fbank.shape[0])
        machine = _Machine(self.opts, sil, decibel)
        filled = 0
        ends = _chunk_ends(samples.size, fbank.shape[0], self.opts)
        for index, end in enumerate(ends):
            while filled < end:
                filled = next(pieces)
            yield machine.chunk(end, final=index == len(ends) - 1)

    def _silence_probs(self, fbank: np.ndarray, sil: np.ndarray) -> Iterator[int]:
        """p(silence) per frame into `sil`, 60 s at a time (yields how far it is filled); the FSMN
        carries its caches over, and only a piece's features exist at a time (10 minutes of them
        would be ~100 MB)."""
        caches = {name: np.zeros(shape, np.float32) for name, shape in self._caches}
        step = CHUNK_MS // self.opts.frame_in_ms
        for begin in range(0, fbank.shape[0], step):
            feats = self._front.lfr_cmvn(fbank, begin, begin + step)
            out = self._session.run(None, {"speech": feats[None], **caches})
            sil[begin: begin + feats.shape[0]] = out[0][0][:, list(self.opts.sil_pdf_ids)].sum(-1)
            caches = {name: value for (name, _), value in zip(self._caches, out[1:])}
            yield begin + feats.shape[0]


def frame_decibels(samples: np.ndarray, frames: int, block: int = 6000) -> np.ndarray:
    """Energy per 25 ms frame (10 ms hop) in dB, as funasr computes it (float32 sums per frame),
    `block` frames at a time so the windows never all exist at once."""
    out = np.empty(frames, np.float64)
    for begin in range(0, frames, block):
        offsets = np.arange(begin, min(frames, begin + block))[:, None] * 160 + np.arange(400)[None, :]
        out[begin: begin + block] = 10 * np.log10(np.sum(np.square(samples[offsets]), axis=1) + 0.000001)
    return out


def _chunk_ends(sample_count: int, frames: int, opts: VadOptions) -> list[int]:
    """Frame index at which each 60 s chunk's detection stops (the online LFR holds 2 frames back)."""
    chunk = CHUNK_MS * opts.sample_rate // 1000
    ends = []
    for k in range(1, sample_count // chunk + 1):
        available = (k * chunk - 400) // 160 + 1
        ends.append(min(frames, available - 2))
    return [*ends, frames]


@dataclass
class _Window:
    """Votes over the last `size` frames: sil->speech when >= up, speech->sil when <= down."""

    size: int
    up: int
    down: int
    state: list[int] = field(default_factory=list)
    pos: int = 0
    total: int = 0
    speech: bool = False

    def __post_init__(self):
        self.state = [0] * self.size

    def push(self, is_speech: bool) -> str:
        vote = int(is_speech)
        self.total += vote - self.state[self.pos]
        self.state[self.pos] = vote
        self.pos = (self.pos + 1) % self.size
        if not self.speech and self.total >= self.up:
            self.speech = True
            return "sil2speech"
        if self.speech and self.total <= self.down:
            self.speech = False
            return "speech2sil"
        return "speech2speech" if self.speech else "sil2sil"


class _Machine:
    """funasr's per-frame decision logic, one instance per recording."""

    def __init__(self, opts: VadOptions, sil: np.ndarray, decibel: np.ndarray):
        self.o, self.sil, self.decibel = opts, sil, decibel
        self.noise_db = -100.0
        self.end_sil_ms = 0.0
        self.speech_noise_thres = 0.5
        self.buf_start = 0
        self.segments: list[list] = []  # [start_ms, end_ms, has_start, has_end]
        self.ends_detected = 0
        self.done, self.begin, self.accumulated, self.in_speech = 0, 0, 0, False  # chunk bookkeeping
        self._reset()

    def _reset(self) -> None:
        o = self.o
        self.window = _Window(o.window_size_ms // o.frame_in_ms, o.sil_to_speech_time_thres // o.frame_in_ms,
                              o.speech_to_sil_time_thres // o.frame_in_ms)
        self.state = _START_NOT_DETECTED
        self.silence_count = 0
        self.last_speech = 0
        self.start_frame = -1
        self.end_frame = -1

    def chunk(self, end: int, final: bool) -> list[tuple[int, int]]:
        """Decide the frames up to `end` (the next chunk end) and hand out the segments this chunk
        completes (the final chunk hands out all)."""
        if self.state == _IN_SPEECH or self.in_speech:
            self.accumulated += CHUNK_MS
            self.in_speech = True
        silence_ms = next(s for limit, s in SCHEDULE if self.accumulated <= limit)
        self.end_sil_ms = max(silence_ms - self.o.speech_to_sil_time_thres, 0)
        for t in range(self.begin, end):
            self._frame(self._is_speech(t), t, final and t == end - 1)
        self.begin = end
        ready = []
        while self.done < len(self.segments) and (final or all(self.segments[self.done][2:])):
            ready.append(self.segments[self.done])
            self.done += 1
        if ready:
            self.accumulated, self.in_speech = 0, False
        return [(int(s[0]), int(s[1])) for s in ready]

    def _is_speech(self, t: int) -> bool:
        o = self.o
        db = float(self.decibel[t])
        if db < o.decibel_thres:
            return False
        p_sil = float(self.sil[t])
        noise = math.log(p_sil) * o.speech_2_noise_ratio
        speech = math.log(1.0 - p_sil)
        if math.exp(speech) >= math.exp(noise) + self.speech_noise_thres:
            return db - self.noise_db >= o.snr_thres and db >= o.decibel_thres
        n = o.noise_frame_num_used_for_snr
        self.noise_db = db if self.noise_db < -99.9 else (db + self.noise_db * (n - 1)) / n
        return False

    def _latency(self) -> int:
        extra = self.o.lookback_time_start_point // self.o.frame_in_ms if self.o.do_extend else 0
        return self.window.size + extra

    def _too_long(self, t: int) -> bool:
        return t - self.start_frame + 1 > self.o.max_single_segment_time / self.o.frame_in_ms

    def _frame(self, is_speech: bool, t: int, final: bool) -> None:
        change = self.window.push(is_speech)
        if change == "sil2speech":
            self.silence_count = 0
            if self.state == _START_NOT_DETECTED:
                start = max(self.buf_start, t - self._latency())
                self._voice_start(start)
                self.state = _IN_SPEECH
                for f in range(start + 1, t + 1):
                    self._voice(f)
            elif self.state == _IN_SPEECH:
                for f in range(self.last_speech + 1, t):
                    self._voice(f)
                self._continue(t, final)
        elif change in ("speech2sil", "speech2speech"):
            self.silence_count = 0
            if self.state == _IN_SPEECH:
                self._continue(t, final)
        else:
            self.silence_count += 1
            self._silence(t, final)
        if self.state == _END_DETECTED:
            self._reset()

    def _continue(self, t: int, final: bool) -> None:
        if self._too_long(t):
            self._voice_end(t, False)
            self.state = _END_DETECTED
        elif not final:
            self._voice(t)
        else:
            self._voice_end(t, True)
            self.state = _END_DETECTED

    def _silence(self, t: int, final: bool) -> None:
        o = self.o
        if self.state == _START_NOT_DETECTED:
            if final and self.ends_detected == 0:
                self.ends_detected += 1  # funasr's "fake" empty segment: nothing is output
                self.state = _END_DETECTED
            elif t >= self._latency():
                self.buf_start = max(self.buf_start, t - self._latency())
        elif self.state == _IN_SPEECH:
            if self.silence_count * o.frame_in_ms >= self.end_sil_ms:
                back = int(self.end_sil_ms / o.frame_in_ms)
                if o.do_extend:
                    back = max(0, back - o.lookahead_time_end_point // o.frame_in_ms - 1)
                self._voice_end(t - back, False)
                self.state = _END_DETECTED
            elif self._too_long(t):
                self._voice_end(t, False)
                self.state = _END_DETECTED
            elif o.do_extend and not final:
                if self.silence_count <= o.lookahead_time_end_point // o.frame_in_ms:
                    self._voice(t)
            elif final:
                self._voice_end(t, True)
                self.state = _END_DETECTED

    def _voice_start(self, frame: int) -> None:
        if self.start_frame == -1:
            self.start_frame = frame
        self._emit(self.start_frame, first=True, last=False)

    def _voice(self, frame: int) -> None:
        self.last_speech = frame
        self._emit(frame, first=False, last=False)

    def _voice_end(self, frame: int, last_frame: bool) -> None:
        for f in range(self.last_speech + 1, frame):
            self._voice(f)
        if self.end_frame == -1:
            self.end_frame = frame
        self._emit(self.end_frame, first=False, last=True)
        self.ends_detected += 1

    def _emit(self, frame: int, first: bool, last: bool) -> None:
        """One frame joins the current segment (a new one when it is a start point)."""
        self.buf_start = max(self.buf_start, frame)
        ms = self.o.frame_in_ms
        if not self.segments or first:
            self.segments.append([frame * ms, frame * ms, False, False])
        segment = self.segments[-1]
        self.buf_start += 1
        segment[1] = (frame + 1) * ms
        segment[2] = segment[2] or first
        segment[3] = segment[3] or last
