"""The FunASR feature front end without torch: Kaldi fbank, low frame rate stacking, global CMVN.

Matches funasr's `WavFrontend` (which computes its fbank with the same kaldi-native-fbank when
torchaudio is absent, as here): samples scaled to int16 range, Hamming window, 25 ms / 10 ms
frames, then `lfr_m` frames stacked every `lfr_n` (the first frame repeated in front, the last one
behind), then `(x + shift) * scale` from the model's `am.mvn`. Dither is always 0 so the same
audio always gives the same text.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from voiceloop.errors import ModelNotFoundError


@dataclass(frozen=True, slots=True)
class FrontConfig:
    n_mels: int = 80
    frame_length_ms: float = 25.0
    frame_shift_ms: float = 10.0
    window: str = "hamming"
    lfr_m: int = 7
    lfr_n: int = 6
    sample_rate: int = 16000

    @classmethod
    def from_model_config(cls, conf: dict[str, Any]) -> FrontConfig:
        fc = conf.get("frontend_conf") or {}
        return cls(n_mels=int(fc.get("n_mels", 80)), frame_length_ms=float(fc.get("frame_length", 25)),
                   frame_shift_ms=float(fc.get("frame_shift", 10)), window=str(fc.get("window", "hamming")),
                   lfr_m=int(fc.get("lfr_m", 1)), lfr_n=int(fc.get("lfr_n", 1)), sample_rate=int(fc.get("fs", 16000)))


def load_cmvn(path: Path) -> np.ndarray:
    """(2, dim): the `<AddShift>` row and the `<Rescale>` row of a Kaldi nnet `am.mvn`."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ModelNotFoundError(f"{path}: cannot read the CMVN file ({exc.strerror}); copy the model dir again") from exc
    rows: dict[str, np.ndarray] = {}
    for i, line in enumerate(lines[:-1]):
        head = line.split()[:1]
        if head and head[0] in ("<AddShift>", "<Rescale>"):
            values = lines[i + 1].split()
            if values[:1] == ["<LearnRateCoef>"]:
                rows[head[0]] = np.array(values[3:-1], dtype=np.float32)
    if len(rows) != 2:
        raise ModelNotFoundError(f"{path}: expected <AddShift> and <Rescale> rows (Kaldi nnet CMVN); "
                                 f"copy the model dir again")
    return np.stack([rows["<AddShift>"], rows["<Rescale>"]])


class Frontend:
    """Samples (16 kHz float32 in [-1, 1]) -> (frames, n_mels * lfr_m) float32 features."""

    def __init__(self, conf: FrontConfig, cmvn: np.ndarray | None):
        self.conf = conf
        self._cmvn = cmvn

    def fbank(self, samples: np.ndarray, frame_length_ms: float | None = None) -> np.ndarray:
        import kaldi_native_fbank as knf

        c = self.conf
        opts = knf.FbankOptions()
        opts.frame_opts.samp_freq = float(c.sample_rate)
        opts.frame_opts.frame_length_ms = float(frame_length_ms or c.frame_length_ms)
        opts.frame_opts.frame_shift_ms = c.frame_shift_ms
        opts.frame_opts.dither = 0.0
        opts.frame_opts.snip_edges = True
        opts.frame_opts.window_type = c.window
        opts.mel_opts.num_bins = c.n_mels
        opts.energy_floor = 0.0
        fb = knf.OnlineFbank(opts)
        fb.accept_waveform(float(c.sample_rate), np.asarray(samples, np.float32) * np.float32(32768.0))
        fb.input_finished()
        if fb.num_frames_ready == 0:
            return np.zeros((0, c.n_mels), np.float32)
        return np.stack([fb.get_frame(i) for i in range(fb.num_frames_ready)]).astype(np.float32)

    def same_fbank(self, other: Frontend) -> bool:
        c, o = self.conf, other.conf
        return (c.n_mels, c.frame_length_ms, c.frame_shift_ms, c.window, c.sample_rate) == \
            (o.n_mels, o.frame_length_ms, o.frame_shift_ms, o.window, o.sample_rate)

    def piece_features(self, fbank: np.ndarray, start: int, size: int) -> np.ndarray | None:
        """Features of `samples[start:start + size]` from the whole input's fbank (kaldi frames are
        independent, so the slice is exact); None when they cannot come from it (not on a frame
        boundary, or shorter than one frame)."""
        shift = int(self.conf.sample_rate * self.conf.frame_shift_ms / 1000)
        length = int(self.conf.sample_rate * self.conf.frame_length_ms / 1000)
        if start % shift or size < length:
            return None
        first = start // shift
        return self.lfr_cmvn(fbank[first: first + (size - length) // shift + 1])

    def features(self, samples: np.ndarray) -> np.ndarray:
        """As funasr's WavFrontend: frame length capped at the input's duration for very short inputs."""
        duration_ms = samples.size / self.conf.sample_rate * 1000
        feats = self.fbank(samples, min(self.conf.frame_length_ms, duration_ms) if duration_ms else None)
        return self.lfr_cmvn(feats)

    def lfr_cmvn(self, feats: np.ndarray, begin: int = 0, end: int | None = None) -> np.ndarray:
        """Output frames `begin`..`end` of the whole input's LFR + CMVN (a slice costs only its rows)."""
        m, n = self.conf.lfr_m, self.conf.lfr_n
        if m != 1 or n != 1:
            feats = stack_lfr(feats, m, n, begin, end)
        elif begin or end is not None:
            feats = feats[begin:end]
        if self._cmvn is not None:
            dim = feats.shape[1]
            feats = (feats + self._cmvn[0, :dim]) * self._cmvn[1, :dim]
        return feats.astype(np.float32, copy=False)


def stack_lfr(feats: np.ndarray, m: int, n: int, begin: int = 0, end: int | None = None) -> np.ndarray:
    """Low frame rate: output frame i stacks input frames i*n - (m-1)//2 .. +m-1, the first and last
    input frames repeated beyond the edges (funasr's padding)."""
    count = int(np.ceil(feats.shape[0] / n))
    end = count if end is None else min(end, count)
    if feats.shape[0] == 0 or end <= begin:
        return np.zeros((0, feats.shape[1] * m), np.float32)
    index = np.arange(begin, end)[:, None] * n + np.arange(m)[None, :] - (m - 1) // 2
    return feats[np.clip(index, 0, feats.shape[0] - 1)].reshape(end - begin, -1)
