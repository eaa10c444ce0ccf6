"""Run by tests in a private mount namespace (`unshare`): a TurnLog on a real, tiny, full tmpfs.

    unshare --user --map-root-user --mount python tests/support/full_disk.py DIR

Mounts a 64 KiB tmpfs on DIR, writes turn records, fills the disk, goes on writing (ENOSPC, and a
short write when a record straddles the last free page), frees the disk, writes again; prints a
JSON report on stdout (the mount, and so the files, vanish with the namespace).
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

from voiceloop.dialogue.turnlog import TurnLog, TurnRecord


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def main(mount: Path) -> None:
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)], check=True)
    logs = _Collect()
    logging.getLogger("voiceloop.dialogue.turnlog").addHandler(logs)
    logging.getLogger("voiceloop.dialogue.turnlog").setLevel(logging.INFO)
    path = mount / "state" / "turns.jsonl"
    turn_log = TurnLog(str(path), max_bytes=1 << 20, keep=2, transcripts=True)
    n = 0

    def write() -> None:
        nonlocal n
        n += 1
        record = TurnRecord(n, user_text="今天天气怎么样" * 3, reply_text="今天晴天，不冷。" * 5)
        turn_log.write(record)

    for _ in range(3):
        write()
    filler = mount / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:  # fill every free page
        while os.write(fd, b"\0" * 4096):
            pass
    except OSError:
        pass
    finally:
        os.close(fd)
    sizes = []
    for _ in range(40):  # fits in the last page's tail, then straddles it (short write), then ENOSPC
        write()
        sizes.append(path.stat().st_size)
    full_text = path.read_bytes()
    filler.unlink()
    for _ in range(2):
        write()
    text = path.read_bytes()
    print(json.dumps({
        "written": n,
        "sizes_while_full": sizes,
        "whole_lines_while_full": full_text.endswith(b"\n") and all(json.loads(x) for x in full_text.splitlines()),
        "lines_at_end": [json.loads(x)["turn"] for x in text.decode("utf-8").splitlines()],
        "warnings": [r.getMessage() for r in logs.records if r.levelno == logging.WARNING],
        "resumed": [r.getMessage() for r in logs.records if "writable again" in r.getMessage()],
    }))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
