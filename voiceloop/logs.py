"""Readable logs on stderr: time, level, short module name, message."""

from __future__ import annotations

import logging
import sys

FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


def setup_logging(level: str = "INFO") -> None:
    """Configure the root logger once. Done before funasr is imported, which otherwise takes it over."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(FORMAT, datefmt="%H:%M:%S"))
    root.addHandler(handler)
    root.setLevel(level)
    for noisy in ("httpx", "httpcore", "modelscope", "urllib3", "numba", "jieba", "faster_whisper"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))


class preserve_root_logger:
    """Undo what a third-party import does to the root logger (funasr sets it to INFO and adds handlers)."""

    def __enter__(self):
        root = logging.getLogger()
        self._level, self._handlers = root.level, list(root.handlers)
        return self

    def __exit__(self, *exc):
        root = logging.getLogger()
        root.setLevel(self._level)
        for handler in list(root.handlers):
            if handler not in self._handlers:
                root.removeHandler(handler)
        return False
