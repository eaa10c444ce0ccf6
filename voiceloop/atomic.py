"""Write files so a reader never sees half of one: temp file in the same dir, fsync, rename."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w", like_open: bool = False) -> Iterator[IO]:
    """A file that appears at `path` whole when the block ends, or not at all if it raises.

    `like_open` gives it the permissions a plain `open()` would (0666 less the umask) instead of
    the temp file's private 0600.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        if like_open:
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """`text` as UTF-8 at `path`, its folder made if missing."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(path) as f:
        f.write(text)
