"""Reasoning models' `<think>…</think>` blocks, removed from a streamed reply.

DeepSeek-R1, QwQ, Qwen3 and their distillations served by Ollama, vLLM or llama.cpp put their
reasoning inline in `content` between these tags. It must never be spoken nor kept in history.
Tags arrive split across deltas ("<thi", "nk>"), so a possible tag start at the end of a delta is
held back until the next one decides; a block that never closes (the reply hit `max_tokens`
while thinking) swallows the rest. Reasoning sent in a separate field (`reasoning_content`) never
reaches here: the client reads `content` only.
"""

from __future__ import annotations

_OPEN, _CLOSE = "<think>", "</think>"


class ThinkFilter:
    """`push(delta) -> visible text`, then `flush()` at the end of the stream."""

    def __init__(self) -> None:
        self._buf = ""
        self._inside = False

    def push(self, delta: str) -> str:
        self._buf += delta
        out = []
        while True:
            tag = _CLOSE if self._inside else _OPEN
            i = self._buf.find(tag)
            if i >= 0:
                if not self._inside:
                    out.append(self._buf[:i])
                self._buf = self._buf[i + len(tag):]
                self._inside = not self._inside
                continue
            keep = _partial_tag_len(self._buf, tag)
            if not self._inside:
                out.append(self._buf[:len(self._buf) - keep])
            self._buf = self._buf[len(self._buf) - keep:]
            return "".join(out)

    def flush(self) -> str:
        """The held-back tail, unless it is inside an unterminated block."""
        rest, self._buf = ("" if self._inside else self._buf), ""
        return rest


def _partial_tag_len(text: str, tag: str) -> int:
    """Length of the longest suffix of `text` that is a proper prefix of `tag`."""
    for n in range(min(len(tag) - 1, len(text)), 0, -1):
        if text.endswith(tag[:n]):
            return n
    return 0
