"""Where the real recordings live (../shared/audio beside the repo) and their reference transcripts."""

from __future__ import annotations

import csv
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SHARED_AUDIO = REPO.parent / "shared" / "audio"
ZH = SHARED_AUDIO / "zh"


def read_manifest(lang: str = "zh") -> dict[str, str]:
    """file name -> reference transcript, from ../shared/audio/<lang>/manifest.tsv."""
    with open(SHARED_AUDIO / lang / "manifest.tsv", encoding="utf-8") as f:
        return {row["file"]: row["transcript"] for row in csv.DictReader(f, delimiter="\t")}


def with_pause(samples, pause_s: float, rate: int = 16000):
    """The recording with `pause_s` of its own background noise spliced in at its quietest point
    mid-sentence (the middle third of its speech): a user who stops to think and goes on."""
    import numpy as np

    from support.simroom import speech_bounds

    start, end = speech_bounds(samples, rate)
    hop = rate // 100
    frames = samples[: len(samples) // hop * hop].reshape(-1, hop)
    level = np.convolve(np.mean(frames.astype(np.float64) ** 2, axis=1), np.ones(5) / 5, mode="same")
    lo, hi = int((start + (end - start) / 3) * 100), int((start + 2 * (end - start) / 3) * 100)
    cut = (lo + int(np.argmin(level[lo:hi]))) * hop
    background = samples[: int(start * rate * 0.8)]
    filler = np.resize(background, int(pause_s * rate)).astype(samples.dtype)
    return np.concatenate([samples[:cut], filler, samples[cut:]])
