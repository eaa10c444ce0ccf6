"""Config paths follow the XDG base directories, as the systemd user unit's StateDirectory does."""

from __future__ import annotations

from pathlib import Path

from voiceloop.config import Config
from voiceloop.dialogue.turnlog import TurnLog, TurnRecord
from voiceloop.paths import expand_path


def test_defaults_follow_xdg_and_fall_back_to_the_spec_defaults(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("XDG_STATE_HOME", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/is/ignored")  # the spec: relative means unset
    cfg = Config()
    assert expand_path(cfg.dialogue.turn_log) == tmp_path / ".local/state/voiceloop/turns.jsonl"
    assert expand_path(cfg.asr.cache_dir) == tmp_path / ".cache/modelscope/hub"
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    assert expand_path(cfg.dialogue.turn_log) == tmp_path / "state/voiceloop/turns.jsonl"
    assert expand_path("${XDG_STATE_HOME}/x/$NOT_SET_ANYWHERE") == tmp_path / "state/x/$NOT_SET_ANYWHERE"
    assert expand_path("~/a") == Path(tmp_path) / "a"


def test_the_turn_log_is_written_under_xdg_state_home(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    TurnLog(Config().dialogue.turn_log).write(TurnRecord(1, user_text="你好"))
    written = (tmp_path / "state" / "voiceloop" / "turns.jsonl").read_text(encoding="utf-8")
    assert '"turn": 1' in written and '"user_chars": 2' in written  # texts only with log_transcripts
