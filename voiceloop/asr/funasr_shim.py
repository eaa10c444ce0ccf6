"""funasr on a short leash: imported with the root logger and stdout protected, its logs demoted.

funasr takes over the root logger and logs through it at INFO and WARNING for routine steps, and it
prints to stdout on import (which would corrupt `transcribe --format json`). Both the torch engine
and the ONNX export load funasr models through here.
"""

from __future__ import annotations

import contextlib
import io
import logging
from pathlib import Path

from voiceloop.logs import preserve_root_logger

log = logging.getLogger(__name__)


def import_funasr():
    """`funasr.AutoModel`, imported with the root logger and stdout protected."""
    with preserve_root_logger(), stdout_to_debug():
        from funasr import AutoModel
    _demote_funasr_root_logs()
    return AutoModel


@contextlib.contextmanager
def stdout_to_debug():
    """funasr prints notices and its version to stdout; keep stdout for our own output."""
    captured = io.StringIO()
    with contextlib.redirect_stdout(captured):
        yield
    for line in captured.getvalue().splitlines():
        if line.strip():
            log.debug("funasr: %s", line.strip())


class _FunasrRootFilter(logging.Filter):
    """funasr logs through the root logger (`logging.info(...)`), at INFO and WARNING for routine
    steps. Those records are shown as DEBUG, so our INFO logs stay readable; errors pass."""

    def __init__(self, package_dir: str):
        super().__init__("funasr-root")
        self._package_dir = package_dir

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.ERROR or not record.pathname.startswith(self._package_dir):
            return True
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return logging.getLogger().isEnabledFor(logging.DEBUG)


def _demote_funasr_root_logs() -> None:
    import funasr

    root = logging.getLogger()
    if not any(isinstance(f, _FunasrRootFilter) for f in root.filters):
        root.addFilter(_FunasrRootFilter(str(Path(funasr.__file__).parent)))
