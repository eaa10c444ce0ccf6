"""Cut a streamed LLM reply into sentences, so speech starts before the reply is finished.

Boundaries: Chinese and Western sentence ends (。！？；… !?;), a line break (list items and
headings often end without punctuation), and "." when a space, a CJK character or the end of the
reply follows, except in decimals (3.14), list numbers ("1. "), initials and common
abbreviations (Mr. e.g.). Closing quotes and brackets stay with their sentence.

The first sentence alone may also end at its first comma that has at least `first_clause_chars`
characters before it, decided the moment the comma arrives: the first audio goes out as soon as
a clause is speakable (with an LLM streaming 40 characters a second, waiting to see whether a
later comma came within 20 characters cost 0.5 s), the rest of the reply is not chopped into
fragments, and "好的，没问题" stays whole.

A fenced code block is held together as one piece (so the text cleaner can drop it whole).

The result depends only on the text, never on how it was chunked into deltas: each decision
waits until the characters it depends on have arrived (a sentence end at the very end of the
buffer waits one delta for a possible closing quote).

Work is linear in the length of the text however it is chunked: deltas that cannot end a sentence
are only collected, and a scan resumes where the last one stopped (text from a client, hours of it
without a full stop, must not cost time quadratic in its length).
"""

from __future__ import annotations

import re

STRONG_ENDS = frozenset("。！？；…!?;")
CLOSERS = frozenset("”’」』）)]】》〉\"'*_~")
COMMAS = frozenset("，,")
ABBREVIATIONS = frozenset({"mr", "mrs", "ms", "dr", "prof", "st", "vs", "etc", "eg", "ie", "e.g", "i.e",
                           "no", "jr", "sr", "inc", "ltd", "co", "fig", "approx", "dept", "est"})
FENCES = ("```", "~~~")
# Characters that can end a sentence or settle a pending decision; a delta without one is only collected.
_TRIGGERS = frozenset(STRONG_ENDS | COMMAS | set(".\n`~"))
_LOOKBEHIND = 64  # characters before a "." that decide whether it ends a word like "Mr" or a list number
_WORD_BEFORE = re.compile(r"([A-Za-z](?:[A-Za-z.]*[A-Za-z])?)$")
_LINE_NUMBER = re.compile(r"(?:^|\n)[ \t]*\d+$")


class SentenceSplitter:
    """`push` deltas, get complete sentences; `flush` at the end of the reply for the rest."""

    def __init__(self, first_clause_chars: int = 20):
        self._first_chars = first_clause_chars
        self._buf = ""
        self._pending: list[str] = []  # deltas not yet in `_buf`: none of them can end a sentence
        self._scan = 0  # where the next scan of `_buf` starts: everything before it is decided
        self._fence_seen = 0  # where the search for an open code block's closing fence goes on
        self._emitted = 0

    def push(self, delta: str) -> list[str]:
        self._pending.append(delta)
        if self._scan == len(self._buf) and _TRIGGERS.isdisjoint(delta):
            return []  # nothing waits on the next character, and this delta ends nothing
        return self._drain(final=False)

    def flush(self) -> list[str]:
        """Sentences left at the end of the reply; the splitter is then ready for the next one."""
        out = self._drain(final=True)
        if self._buf.strip():
            out.append(self._buf.strip())
        self._buf = ""
        self._scan = self._fence_seen = 0
        self._emitted = 0
        return out

    def _drain(self, final: bool) -> list[str]:
        if self._pending:
            self._buf = (self._buf + "".join(self._pending)).lstrip()
            self._pending.clear()
        out: list[str] = []
        while (cut := self._boundary(final)) is not None:
            sentence = self._buf[:cut].strip()
            self._buf = self._buf[cut:].lstrip()
            self._scan = self._fence_seen = 0
            if sentence:
                out.append(sentence)
                self._emitted += 1
        return out

    def _boundary(self, final: bool) -> int | None:
        """Index just past the first complete sentence in the buffer, or None to wait for more (and
        `_scan` then says where the scan stopped, the first character whose verdict is still open)."""
        cut, self._scan = self._scan_from(self._scan, final)
        return cut

    def _scan_from(self, i: int, final: bool) -> tuple[int | None, int]:
        """(cut, i): the cut and 0, or None and where the scan stopped."""
        buf, n = self._buf, len(self._buf)
        while i < n:
            ch = buf[i]
            if ch in "`~":
                if not final and i + 3 > n and buf[i:] == ch * (n - i):
                    return None, i  # maybe the start of a fence
                if buf.startswith(FENCES, i):
                    return self._fence_end(i, final), i
            if ch == "\n" and i > 0:  # the buffer never starts with whitespace
                return i + 1, 0
            if ch in COMMAS and self._emitted == 0:
                verdict = self._comma_cut(i, final)
                if verdict is not False:
                    return verdict, i
            if ch in STRONG_ENDS or ch == ".":
                end = _run_end(buf, i)
                end = _closers_end(buf, end)
                if end == n and not final:
                    return None, i  # more terminators or a closing quote may follow
                if self._is_end(i, end, final):
                    return end, 0
                i = end
                continue
            i += 1
        return None, n

    def _comma_cut(self, i: int, final: bool) -> int | None | bool:
        """i+1 to cut at this comma, None to wait for more text, False to keep scanning."""
        buf, n = self._buf, len(self._buf)
        if buf[i] == ",":
            if i + 1 == n:
                return i + 1 if final else None  # "1,000" or a clause? wait for the next character
            if buf[i + 1].isdigit():
                return False
        return i + 1 if i >= self._first_chars else False

    def _is_end(self, start: int, end: int, final: bool) -> bool:
        """Whether the terminator run buf[start:end] ends a sentence."""
        buf = self._buf
        run = buf[start:end]
        if any(c in STRONG_ENDS for c in run):
            return True
        if end == len(buf):
            return final
        nxt = buf[end]
        if nxt.isascii() and (nxt.isalnum() or nxt in "._-/\\@"):
            return False  # 3.14, file.txt, v1.2
        if run.rstrip("\"')]*_~") == ".":
            window = max(0, start - _LOOKBEHIND)
            word = _WORD_BEFORE.search(buf, window, start)
            if word and (len(word.group(1)) == 1 or word.group(1).lower() in ABBREVIATIONS):
                return False  # J. K. Rowling, Mr. Smith
            if _LINE_NUMBER.search(buf, window, start):
                return False  # "1. " starting a list item
        return True

    def _fence_end(self, start: int, final: bool) -> int | None:
        """End of the line that closes the fenced block opened at `start`."""
        buf = self._buf
        marker = buf[start:start + 3]
        close = buf.find(marker, max(start + 3, self._fence_seen))
        if close < 0:
            self._fence_seen = max(start + 3, len(buf) - 2)  # the next search starts there
            return len(buf) if final else None
        line_end = buf.find("\n", close + 3)
        if line_end < 0:
            return len(buf) if final else None
        return line_end + 1


def _run_end(buf: str, i: int) -> int:
    while i < len(buf) and (buf[i] in STRONG_ENDS or buf[i] == "."):
        i += 1
    return i


def _closers_end(buf: str, i: int) -> int:
    while i < len(buf) and buf[i] in CLOSERS:
        i += 1
    return i
