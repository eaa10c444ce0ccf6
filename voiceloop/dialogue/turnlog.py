"""Per-turn records: what was heard, said and when, as one JSON line per turn."""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import time
from dataclasses import asdict, dataclass, field

from voiceloop.config import DialogueConfig
from voiceloop.paths import expand_path

log = logging.getLogger(__name__)

MARKS = ("speech_end", "endpoint", "asr_done", "llm_first_token", "first_sentence", "tts_first_audio",
         "playback_start", "playback_end")
_TEXTS = ("user_text", "reply_text", "heard_text")


@dataclass(slots=True)
class TurnRecord:
    """Filled in by the turn as it goes (one owner: the turn task), then written once.

    `marks` holds monotonic seconds; the JSON line gives them relative to `speech_end`, the moment
    the user stopped talking (the endpoint minus the configured end-of-speech silence).
    """

    turn: int
    started_wall: float = field(default_factory=time.time)
    marks: dict[str, float] = field(default_factory=dict)
    user_text: str = ""
    reply_text: str = ""
    heard_text: str = ""
    interrupted: bool = False
    continued: bool = False  # the user went on talking before the reply was heard: joined to the next turn
    error: str | None = None
    asr_s: float | None = None
    abandoned: int = 0  # replies prepared in a pause the user went on after, since the last turn (wasted work)

    def mark(self, name: str, at: float | None = None) -> None:
        assert name in MARKS, name
        self.marks.setdefault(name, time.monotonic() if at is None else at)

    def to_json(self, texts: bool = True) -> str:
        """One line; without `texts` the user's and the reply's words are replaced by their lengths."""
        origin = self.marks.get("speech_end")
        rel = {k: round(v - origin, 4) for k, v in self.marks.items()} if origin is not None else {}
        doc = asdict(self)
        doc["marks"] = {k: rel.get(k) for k in MARKS}
        doc["started"] = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(self.started_wall))
        del doc["started_wall"]
        if not texts:
            for key in _TEXTS:
                doc[key.replace("_text", "_chars")] = len(doc.pop(key))
        return json.dumps(doc, ensure_ascii=False)

    def summary(self, texts: bool = True) -> str:
        m = self.marks
        def since(a, b):
            return f"{m[b] - m[a]:.2f}s" if a in m and b in m else "-"
        state = ("continued in the next turn" if self.continued else "interrupted" if self.interrupted
                 else ("error " + self.error if self.error else "done"))
        said = (f"user={self.user_text!r} reply={self.reply_text[:60]!r}" if texts else
                f"user={len(self.user_text)} chars reply={len(self.reply_text)} chars")
        asr = "-" if self.asr_s is None else f"{self.asr_s:.2f}s"  # its duration: a prepared reply's began early
        return (f"turn {self.turn} {state}: {said} asr={asr} "
                f"first_token={since('asr_done', 'llm_first_token')} "
                f"first_audio={since('speech_end', 'playback_start')}")


class TurnLog:
    """Appends records to a JSONL file, rotated by size; a write failure is logged, never raised.

    Hand-written rather than `logging.handlers.RotatingFileHandler`, which can leave half a line
    on a full disk and prints a traceback for every failed record. Here each record is one
    `write()` on an O_APPEND descriptor; a short write is cut back off, so the file only ever holds
    whole lines. A full disk (or any other OSError) is warned about once, its records are dropped,
    and writing resumes by itself when space is back (logged with the count lost).
    """

    def __init__(self, path: str, max_bytes: int = 1 << 20, keep: int = 3, transcripts: bool = False):
        self._path = expand_path(path) if path else None
        self._max_bytes = max_bytes
        self._keep = keep
        self._transcripts = transcripts
        self._dropped = 0  # records lost in the current outage; > 0 means we already warned

    @classmethod
    def from_config(cls, cfg: DialogueConfig) -> TurnLog:
        return cls(cfg.turn_log, cfg.turn_log_max_kb * 1024, cfg.turn_log_keep, cfg.log_transcripts)

    def write(self, record: TurnRecord) -> None:
        log.info("%s", record.summary(self._transcripts))
        if self._path is None:
            return
        try:
            self._append((record.to_json(self._transcripts) + "\n").encode("utf-8"))
        except OSError as exc:
            if not self._dropped:
                log.warning("cannot write turn log %s: %s; dropping turn records until it works again "
                            "(free space, or change dialogue.turn_log)", self._path, exc)
            self._dropped += 1
            return
        if self._dropped:
            log.info("turn log %s is writable again; %d records were dropped", self._path, self._dropped)
            self._dropped = 0

    def _append(self, data: bytes) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self._path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            size = os.fstat(fd).st_size
            if size and size + len(data) > self._max_bytes:
                os.close(fd)
                fd = -1
                self._rotate()
                fd = os.open(self._path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
                size = os.fstat(fd).st_size
            try:
                written = os.write(fd, data)
                if written != len(data):
                    raise OSError(errno.ENOSPC, f"short write ({written} of {len(data)} bytes)")
            except OSError:
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, size)  # never leave half a line behind
                raise
        finally:
            if fd >= 0:
                os.close(fd)

    def _rotate(self) -> None:
        """turns.jsonl -> .1 -> .2 ... -> .keep (the oldest falls off); keep 0 empties the file."""
        if self._keep == 0:
            os.truncate(self._path, 0)
            return
        for i in range(self._keep - 1, 0, -1):
            older = self._path.with_name(f"{self._path.name}.{i}")
            if older.exists():
                os.replace(older, self._path.with_name(f"{self._path.name}.{i + 1}"))
        os.replace(self._path, self._path.with_name(f"{self._path.name}.1"))
