"""(SeACo-)Paraformer on onnxruntime: features -> encoder/CIF/decoder graph -> tokens and token times.

Greedy decoding as funasr's `SeacoParaformer.inference` does it: the CIF predictor's token count
(floored), arg-max per token, blank/<s>/</s> dropped. Hotwords follow funasr's rules: each
whitespace-separated word is tokenised by the model's `seg_dict` (whole word if listed, else
character by character for Hanzi and digits, else `<unk>`), `<s>` is appended as the "no hotword"
entry, and each word is represented by the bias encoder's (`model_eb.onnx`) output at its last
token. Without hotwords the plain decoder's log-probabilities are used (`decoder_logits`, which our
export adds); a FunASR-published graph lacks it and is fed `<s>` alone instead.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from voiceloop.asr.onnx.front import FrontConfig, Frontend, load_cmvn
from voiceloop.asr.onnx.session import (
    CIF_PEAKS,
    HOTWORDS,
    TIMESTAMPS,
    open_session,
    read_model_config,
    read_tokens,
    require_file,
)

log = logging.getLogger(__name__)

MAX_HOTWORDS = 50  # torch pre-filters beyond this (ASF); we keep the first 50
_HANZI_OR_DIGITS = re.compile(r"^[\u4E00-\u9FA50-9]+$")
_FIRE = 1.0 - 1e-4
_SECONDS_PER_UPSAMPLED_FRAME = 0.06 / 3  # LFR frames are 60 ms; CifPredictorV3 upsamples 3x


_NO = np.array(False)


@dataclass(frozen=True, slots=True)
class Recognised:
    tokens: tuple[str, ...]
    times_ms: tuple[tuple[int, int], ...] | None  # one per token, None when not computed
    timed: bool = False  # the model has a timestamp predictor (times_ms None: not asked for)


class OnnxParaformer:
    def __init__(self, model_dir: Path, quantize: bool, threads: int):
        conf = read_model_config(model_dir)
        self.front = Frontend(FrontConfig.from_model_config(conf), load_cmvn(model_dir / "am.mvn"))
        self.tokens = read_tokens(model_dir)
        self._ids = {t: i for i, t in enumerate(self.tokens)}
        self._sos = self._ids.get("<s>", 1)
        self._eos = self._ids.get("</s>", 2)
        self._unk = self._ids.get("<unk>", len(self.tokens) - 1)
        self._session = open_session(require_file(model_dir, "model", quantize, "asr.model"), threads)
        # flags with a default (onnx_graph's gates) are listed as overridable initializers, not inputs
        self._inputs = [i.name for i in [*self._session.get_inputs(), *self._session.get_overridable_initializers()]]
        self._outputs = [o.name for o in self._session.get_outputs()]
        self.seaco = "bias_embed" in self._inputs
        self._embedder = (open_session(require_file(model_dir, "model_eb", quantize, "asr.model"), threads)
                          if self.seaco else None)
        self._seg_dict = _load_seg_dict(model_dir / "seg_dict")
        self._plain_bias = self._bias_embed([[self._sos]]) if self.seaco else None
        self.timed = "us_alphas" in self._outputs

    def hotword_ids(self, words: tuple[str, ...]) -> list[list[int]]:
        """Token ids per hotword, then [<s>]; words that tokenise to nothing are dropped."""
        result = []
        for word in words[:MAX_HOTWORDS - 1]:
            pieces = self._tokenise_hotword(word)
            if pieces:
                result.append([self._ids.get(p, self._unk) for p in pieces])
        if len(words) >= MAX_HOTWORDS:
            log.warning("%d hotwords given; only the first %d are used", len(words), MAX_HOTWORDS - 1)
        return [*result, [self._sos]]

    def recognise(self, samples: np.ndarray, hotwords: list[list[int]] | None, timestamps: bool = True,
                  feats: np.ndarray | None = None) -> Recognised:
        """Tokens of one segment; token times only with `timestamps` (the graph skips its timestamp
        predictor otherwise). `feats`: the segment's features when the caller has them already."""
        feats = self.front.features(samples) if feats is None else feats
        if feats.shape[0] == 0:
            return Recognised((), None, self.timed)
        feed = {"speech": feats[None], "speech_lengths": np.array([feats.shape[0]], np.int32)}
        plain = not hotwords or len(hotwords) <= 1
        if self.seaco:
            feed["bias_embed"] = self._plain_bias if plain else self._bias_embed(hotwords)
        for flag, on in ((TIMESTAMPS, timestamps), (CIF_PEAKS, False), (HOTWORDS, not plain)):
            if flag in self._inputs and not on:
                feed[flag] = _NO
        out = dict(zip(self._outputs, self._session.run(None, feed)))
        scores = out["decoder_logits"] if plain and "decoder_logits" in out else out["logits"]
        count = int(out["token_num"][0])
        ids = [int(i) for i in scores[0, :count].argmax(-1) if i not in (0, self._sos, self._eos)]
        tokens = tuple(self.tokens[i] for i in ids)
        times = None
        if self.timed and timestamps and tokens:
            length = feats.shape[0] * 3
            alphas = out["us_alphas"][0, :length]
            peaks = out["us_cif_peak"][0, :length] if CIF_PEAKS not in self._inputs else _integrate(alphas)
            times = token_times(alphas, peaks, len(tokens))
        return Recognised(tokens, times, self.timed)

    def _bias_embed(self, hotwords: list[list[int]]) -> np.ndarray:
        longest = max(len(h) for h in hotwords)
        fixed = self._embedder.get_inputs()[0].shape[1]
        width = fixed if isinstance(fixed, int) else longest
        kept = [h for h in hotwords if len(h) <= width]
        if len(kept) < len(hotwords):
            log.warning("hotwords longer than %d tokens are ignored by this model_eb.onnx", width)
        padded = np.zeros((len(kept), width), np.int32)
        for row, ids in enumerate(kept):
            padded[row, : len(ids)] = ids
        embed = self._embedder.run(None, {"hotword": padded})[0]  # (width, words, dim)
        last = np.array([len(ids) - 1 for ids in kept])
        return embed[last, np.arange(len(kept))][None].astype(np.float32)

    def _tokenise_hotword(self, word: str) -> list[str]:
        word = word.strip().lower()
        if not word:
            return []
        if self._seg_dict is None:
            return [word]
        if word in self._seg_dict:
            return self._seg_dict[word]
        if _HANZI_OR_DIGITS.match(word):
            return [piece for ch in word for piece in self._seg_dict.get(ch, ["<unk>"])]
        return ["<unk>"]


def token_times(alphas: np.ndarray, peaks: np.ndarray, count: int) -> tuple[tuple[int, int], ...]:
    """Start and end ms of each token from the upsampled CIF weights (funasr's lfr6 rule).

    A token lasts from its peak to the next one, at most 12 upsampled frames (the rest is silence);
    the last one ends halfway to the end of the audio when more than 5 frames of it are left.
    """
    fire = np.flatnonzero(peaks >= _FIRE) - 1.5
    if len(fire) != count + 1:  # re-spread the weights so exactly count + 1 peaks fire
        alphas = (alphas / (alphas.sum() / np.float32(count + 1))).astype(np.float32)
        fire = np.flatnonzero(_integrate(alphas) >= _FIRE) - 1.5
    frames = len(peaks)
    spans: list[list[float]] = []  # [start, end, is_token]
    if len(fire) and fire[0] > 5:
        spans.append([0.0, fire[0], 0])
    for i in range(len(fire) - 1):
        if fire[i + 1] - fire[i] <= 12:
            spans.append([fire[i], fire[i + 1], 1])
        else:
            spans += [[fire[i], fire[i] + 12, 1], [fire[i] + 12, fire[i + 1], 0]]
    if spans and frames - fire[-1] > 5:
        spans[-1][1] = (frames + fire[-1]) * 0.5
    elif spans:
        spans[-1][1] = frames
    rate = _SECONDS_PER_UPSAMPLED_FRAME
    times = [(int(s * rate * 1000), int(e * rate * 1000)) for s, e, tok in spans if tok]
    times += [times[-1] if times else (0, int(frames * rate * 1000))] * (count - len(times))
    return tuple(times[:count])


def _integrate(alphas: np.ndarray) -> np.ndarray:
    """Integrate-and-fire: the running sum, reset by the threshold each time it is reached."""
    out = np.empty_like(alphas)
    acc = np.float32(0.0)
    for t, a in enumerate(alphas):
        acc = np.float32(acc + a)
        out[t] = acc
        if acc >= _FIRE:
            acc = np.float32(acc - np.float32(_FIRE))
    return out


def _load_seg_dict(path: Path) -> dict[str, list[str]] | None:
    if not path.is_file():
        return None
    entries = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        parts = line.split()
        if parts:
            entries[parts[0]] = parts[1:]
    return entries
