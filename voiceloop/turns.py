"""Per-turn records: what was heard, said and when, as one JSON line per turn."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass, field

from voiceloop.paths import expand_path

log = logging.getLogger(__name__)

MARKS = ("speech_end", "endpoint", "asr_done", "llm_first_token", "first_sentence", "tts_first_audio",
         "playback_start", "playback_end")


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
    error: str | None = None
    asr_s: float | None = None

    def mark(self, name: str, at: float | None = None) -> None:
        assert name in MARKS, name
        self.marks.setdefault(name, time.monotonic() if at is None else at)

    def to_json(self) -> str:
        origin = self.marks.get("speech_end")
        rel = {k: round(v - origin, 4) for k, v in self.marks.items()} if origin is not None else {}
        doc = asdict(self)
        doc["marks"] = {k: rel.get(k) for k in MARKS}
        doc["started"] = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(self.started_wall))
        del doc["started_wall"]
        return json.dumps(doc, ensure_ascii=False)

    def summary(self) -> str:
        m = self.marks
        def since(a, b):
            return f"{m[b] - m[a]:.2f}s" if a in m and b in m else "-"
        state = "interrupted" if self.interrupted else ("error " + self.error if self.error else "done")
        return (f"turn {self.turn} {state}: user={self.user_text!r} reply={self.reply_text[:60]!r} "
                f"asr={since('endpoint', 'asr_done')} first_token={since('asr_done', 'llm_first_token')} "
                f"first_audio={since('speech_end', 'playback_start')}")


class TurnLog:
    """Appends records to a JSONL file; a write failure is logged, never raised (the turn already happened)."""

    def __init__(self, path: str):
        self._path = expand_path(path) if path else None
        self._warned = False

    def write(self, record: TurnRecord) -> None:
        log.info("%s", record.summary())
        if self._path is None:
            return
        try:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            with open(self._path, "a", encoding="utf-8") as f:
                f.write(record.to_json() + "\n")
        except OSError as exc:
            if not self._warned:
                log.warning("cannot write turn log %s: %s (dialogue.turn_log)", self._path, exc)
                self._warned = True
