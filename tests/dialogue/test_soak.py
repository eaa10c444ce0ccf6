"""50 turns through the whole daemon: nothing may grow (bench/soak.py runs 1000 and prints figures)."""

from __future__ import annotations

import json

from support.recordings import ZH
from support.soak import run_soak

from voiceloop.asr import create_engine
from voiceloop.audio.decode import decode_file
from voiceloop.config import AsrConfig


async def test_fifty_turns_leak_no_fds_threads_or_tasks_and_little_memory(tmp_path, tiny_models):
    asr = create_engine(AsrConfig(engine="paraformer", model=str(tiny_models.paraformer), vad_model="",
                                  punc_model="", device="cpu", threads=1))
    clips = [decode_file(ZH / "uberi_chinese.wav")]  # 1 s of real Mandarin: the shortest turn
    first, last = await run_soak(asr, clips, turns=50, sample_at=(10, 50), work_dir=tmp_path,
                                 on_sample=lambda s: print(s.line()))
    turns = [json.loads(line) for line in (tmp_path / "turns.jsonl").read_text(encoding="utf-8").splitlines()]
    # Every turn was a whole one: answered, heard, and the reply's echo never became a turn.
    assert len(turns) == 50 and all(t["heard_text"] == "好的。" and not t["interrupted"] for t in turns)
    # No growth (the target): start-up's helper threads and files may still be ending at turn 10.
    assert last.fds <= first.fds and last.threads <= first.threads and last.tasks <= first.tasks, (first, last)
    assert last.rss_mb < first.rss_mb * 1.10, (first, last)  # loose: the 5 % target is bench/soak.py's
