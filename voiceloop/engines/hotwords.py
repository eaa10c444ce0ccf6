"""Hotwords the user edits at run time (`asr.hotwords_file`), read fresh for every recognition.

The file holds one hotword per line. It is re-read whenever its modification time changes, so an
edit from the web console (or by hand) applies to the next utterance and the next API job without
a restart; writes are atomic so a reader never sees half a list.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from pathlib import Path

from voiceloop.atomic import write_text_atomic

log = logging.getLogger("voiceloop.hotwords")

MAX_HOTWORDS = 1000
MAX_HOTWORD_CHARS = 50
_SEPARATORS = re.compile(r"[\s,，、;；]+")


def split_hotwords(text: str) -> tuple[str, ...]:
    """Words from a comma-, space- or newline-separated string, in order, without duplicates."""
    return tuple(dict.fromkeys(w for w in _SEPARATORS.split(text) if w))


def check_hotwords(words: tuple[str, ...], where: str = "") -> tuple[str, ...]:
    """`words` unchanged, or ValueError for too many or one too long: each one costs the
    recogniser work on every segment, so a request cannot ask for thousands."""
    if len(words) > MAX_HOTWORDS:
        raise ValueError(f"{where}{len(words)} hotwords: at most {MAX_HOTWORDS} are allowed")
    for w in words:
        if len(w) > MAX_HOTWORD_CHARS or _SEPARATORS.search(w):
            raise ValueError(f"{where}hotword {w[:60]!r}: expected one word of at most {MAX_HOTWORD_CHARS} "
                             "characters without spaces or commas")
    return words


class HotwordStore:
    """The hotwords of `asr.hotwords_file`; "" disables the file (the list is then always empty)."""

    def __init__(self, path: str):
        self.path = Path(path).expanduser() if path else None
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._words: tuple[str, ...] = ()
        self._warned = False

    def current(self) -> tuple[str, ...]:
        """The file's words now; a missing file is an empty list, an unreadable one keeps the last list."""
        if self.path is None:
            return ()
        with self._lock:
            try:
                st = os.stat(self.path)
            except FileNotFoundError:
                self._stamp, self._words = None, ()
                return ()
            except OSError as exc:
                self._warn(exc)
                return self._words
            stamp = (st.st_mtime_ns, st.st_size)
            if stamp != self._stamp:
                try:
                    self._words = split_hotwords(self.path.read_text(encoding="utf-8"))
                    self._stamp = stamp
                except (OSError, UnicodeDecodeError) as exc:
                    self._warn(exc)
            return self._words

    def save(self, words: tuple[str, ...]) -> tuple[str, ...]:
        """Replace the list (atomically); raises ValueError for an unusable list, OSError if unwritable."""
        if self.path is None:
            raise ValueError("asr.hotwords_file is empty: set it to a file path to keep hotwords")
        words = check_hotwords(tuple(dict.fromkeys(w.strip() for w in words if w.strip())))
        with self._lock:
            write_text_atomic(self.path, "".join(w + "\n" for w in words))
            self._stamp = None  # re-read (and re-stamp) on the next `current()`
        return words

    def _warn(self, exc: Exception) -> None:
        if not self._warned:
            log.warning("cannot read hotwords from %s (asr.hotwords_file): %s", self.path, exc)
            self._warned = True
