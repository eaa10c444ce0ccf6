"""Packing speech segments into batches by duration, for a GPU that recognises many at once.

A batch costs what its longest member costs times its size (every member is padded to the longest),
so segments are sorted by length and packed while `longest x count` stays within the budget: long
segments go together, short ones go together, and little of a batch is padding. funasr packs one
file's VAD segments this way; the same packing over many files' segments keeps a GPU busy on a folder
of short recordings too.
"""

from __future__ import annotations

from collections.abc import Sequence


def pack_by_duration(lengths: Sequence[int], budget: int, alone_from: int) -> list[list[int]]:
    """Indices into `lengths`, grouped so that max(length) x len(group) <= `budget`.

    A length of `alone_from` or more, or one over the budget by itself, is a batch of its own;
    `budget` 0 puts every item alone (a CPU gains nothing from padding). Groups come shortest first.
    """
    packs: list[list[int]] = []
    for k in sorted(range(len(lengths)), key=lambda k: lengths[k]):
        # ascending order: this one is the longest of any pack it joins
        if packs and lengths[k] < alone_from and lengths[k] * (len(packs[-1]) + 1) <= budget:
            packs[-1].append(k)
        else:
            packs.append([k])
    return packs
