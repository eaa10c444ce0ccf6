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
