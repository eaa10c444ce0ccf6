"""The turn log: rotated by size, whole lines only, a full disk survived, texts only when allowed."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

from support.recordings import REPO

from voiceloop.config import DialogueConfig
from voiceloop.dialogue.turnlog import TurnLog, TurnRecord


def record(n: int) -> TurnRecord:
    return TurnRecord(n, user_text=f"第{n}个问题是什么", reply_text="这是回答。" * 4, heard_text="这是回答。")


def test_rotates_by_size_keeping_the_configured_number_of_files(tmp_path):
    path = tmp_path / "turns.jsonl"
    cfg = DialogueConfig(turn_log=str(path), turn_log_max_kb=1, turn_log_keep=2, log_transcripts=True)
    turn_log = TurnLog.from_config(cfg)
    for n in range(1, 41):
        turn_log.write(record(n))
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["turns.jsonl", "turns.jsonl.1", "turns.jsonl.2"]
    turns = []
    for name in ("turns.jsonl.2", "turns.jsonl.1", "turns.jsonl"):
        data = (tmp_path / name).read_bytes()
        assert len(data) <= 1024 and data.endswith(b"\n")
        turns += [json.loads(line)["turn"] for line in data.splitlines()]
    assert turns == list(range(turns[0], 41)) and turns[0] > 1  # newest kept, in order, oldest gone


def test_texts_are_kept_only_with_log_transcripts(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="voiceloop")
    quiet, loud = tmp_path / "quiet.jsonl", tmp_path / "loud.jsonl"
    TurnLog.from_config(DialogueConfig(turn_log=str(quiet))).write(record(1))
    assert "第1个问题" not in caplog.text and "这是回答" not in caplog.text
    doc = json.loads(quiet.read_text(encoding="utf-8"))
    assert "第1个问题" not in quiet.read_text(encoding="utf-8")
    assert (doc["user_chars"], doc["reply_chars"], doc["heard_chars"]) == (8, 20, 5)
    assert oct(os.stat(quiet).st_mode & 0o777) == "0o600"
    TurnLog.from_config(DialogueConfig(turn_log=str(loud), log_transcripts=True)).write(record(2))
    assert "第2个问题" in caplog.text and json.loads(loud.read_text(encoding="utf-8"))["user_text"] == "第2个问题是什么"


def test_a_full_disk_drops_records_warns_once_and_resumes_with_whole_lines_only(tmp_path):
    """On a real 64 KiB tmpfs (private mount namespace): filled up, one record straddles the last
    free page (a real short write), then ENOSPC; space comes back and writing resumes."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    out = subprocess.run(["unshare", "--user", "--map-root-user", "--mount", sys.executable,
                          str(Path(__file__).parents[1] / "support" / "full_disk.py"), str(tmp_path)],
                         capture_output=True, text=True, env=env, timeout=60, check=False)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["whole_lines_while_full"]
    (warning,) = report["warnings"]  # once for the whole outage
    assert ("No space left" in warning or "short write" in warning) and "dialogue.turn_log" in warning
    kept = report["lines_at_end"]
    assert kept[:3] == [1, 2, 3] and kept[-2:] == [44, 45]  # resumed once space was back
    dropped = 45 - len(kept)
    resumed = f"turn log {tmp_path}/state/turns.jsonl is writable again; {dropped} records were dropped"
    assert dropped > 0 and report["resumed"] == [resumed]
