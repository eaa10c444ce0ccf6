"""Config loading: the shipped file documents every key, and every mistake gets one precise message."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys

import pytest
import yaml

from voiceloop.config import Config
from voiceloop.configload import load_config, parse_config_text
from voiceloop.errors import ConfigError

from support.recordings import REPO

SHIPPED = REPO / "config" / "voiceloop.yaml"


def _field_tree(cls) -> dict:
    return {f.name: (_field_tree(f.type if not isinstance(f.type, str) else type(getattr(cls(), f.name)))
                     if dataclasses.is_dataclass(getattr(cls(), f.name)) else None)
            for f in dataclasses.fields(cls)}


def _key_tree(data: dict) -> dict:
    return {k: (_key_tree(v) if isinstance(v, dict) else None) for k, v in data.items()}


def test_shipped_config_documents_every_key_with_the_default_values():
    text = SHIPPED.read_text(encoding="utf-8")
    assert _key_tree(yaml.safe_load(text)) == _field_tree(Config)
    assert parse_config_text(text, str(SHIPPED)) == Config()


def test_every_key_in_the_shipped_config_has_a_comment_above_it():
    lines = SHIPPED.read_text(encoding="utf-8").splitlines()
    for i, line in enumerate(lines):
        stripped = line.strip()
        if stripped and not stripped.startswith("#") and not stripped.endswith(":") and ":" in stripped:
            above = [l.strip() for l in lines[max(0, i - 3):i]]
            assert any(l.startswith("#") for l in above), f"undocumented key at line {i + 1}: {stripped}"


@pytest.mark.parametrize("text, expected", [
    ("asr:\n  enigne: whisper\n", ["asr.enigne: unknown key", "engine"]),
    ("asr:\n  hotwords: [a, b, {x: 1}]\n", ["asr.hotwords[2]: expected text, got a mapping"]),
    ("asr:\n  hotwords: 达摩院\n", ["asr.hotwords: expected a list"]),
    ("vad:\n  end_silence_ms: 20\n", ["vad.end_silence_ms: 20 is out of range; expected 100 to 5000"]),
    ("vad:\n  threshold: high\n", ["vad.threshold: expected a number, got text 'high'"]),
    ("dialogue:\n  barge_in: yes please\n", ["dialogue.barge_in: expected true or false"]),
    ("aec:\n  engine: speex\n", ["aec.engine: expected one of webrtc, speexdsp, none; got 'speex'"]),
    ("llm: [1, 2]\n", ["llm: expected a mapping of keys, got a list"]),
    ("asr:\n  engine: [whisper\n", ["not valid YAML at line"]),
    ("- just\n- a list\n", ["top level: expected a mapping"]),
])
def test_bad_config_names_file_key_and_expectation(text, expected):
    with pytest.raises(ConfigError) as info:
        parse_config_text(text, "/etc/voiceloop/voiceloop.yaml")
    message = str(info.value)
    assert message.startswith("/etc/voiceloop/voiceloop.yaml: ")
    for part in expected:
        assert part in message


def test_empty_file_means_defaults_and_partial_file_keeps_other_defaults():
    assert parse_config_text("", "x") == Config()
    cfg = parse_config_text("asr:\n  hotwords: [达摩院, 魔搭]\nvad:\n  end_silence_ms: 800\n", "x")
    assert cfg.asr.hotwords == ("达摩院", "魔搭")
    assert cfg.vad.end_silence_ms == 800
    assert cfg.vad.start_ms == Config().vad.start_ms
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.vad.start_ms = 1


def test_a_key_an_older_version_took_loads_with_a_warning_naming_it(caplog):
    cfg = parse_config_text("aec:\n  ns_level: 2\n  noise_suppression: false\n", "/etc/voiceloop/voiceloop.yaml")
    assert cfg.aec.noise_suppression is False
    assert "/etc/voiceloop/voiceloop.yaml: aec.ns_level is no longer used and is ignored" in caplog.text
    with pytest.raises(ConfigError, match="vad.ns_level: unknown key"):  # only where it once was
        parse_config_text("vad:\n  ns_level: 2\n", "x")


def test_lookup_order(tmp_path, monkeypatch):
    home = tmp_path / "home"
    user_cfg = home / ".config" / "voiceloop" / "voiceloop.yaml"
    user_cfg.parent.mkdir(parents=True)
    user_cfg.write_text("vad:\n  end_silence_ms: 700\n")
    env_cfg = tmp_path / "env.yaml"
    env_cfg.write_text("vad:\n  end_silence_ms: 800\n")
    explicit = tmp_path / "explicit.yaml"
    explicit.write_text("vad:\n  end_silence_ms: 900\n")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("VOICELOOP_CONFIG", raising=False)
    assert load_config()[0].vad.end_silence_ms == 700
    monkeypatch.setenv("VOICELOOP_CONFIG", str(env_cfg))
    assert load_config()[0].vad.end_silence_ms == 800
    assert load_config(explicit)[0].vad.end_silence_ms == 900
    monkeypatch.setenv("VOICELOOP_CONFIG", str(tmp_path / "gone.yaml"))
    with pytest.raises(ConfigError, match="gone.yaml: config file not found"):
        load_config()


def test_unreadable_and_binary_files(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path)
    binary = tmp_path / "voiceloop.yaml"
    binary.write_bytes(b"\xff\xfe\x00garbage\x81")
    with pytest.raises(ConfigError, match="not a UTF-8 text file"):
        load_config(binary)


def test_cli_exits_2_with_one_line_and_runs_nothing(tmp_path, zh_audio):
    bad = tmp_path / "bad.yaml"
    bad.write_text("asr:\n  hotwords: [ok, 3.5, {x: 1}]\n")
    out_dir = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "voiceloop", "transcribe", "--config", str(bad), "--output-dir", str(out_dir),
         str(zh_audio / "uberi_chinese.wav")],
        capture_output=True, text=True, timeout=60, env={**os.environ, "HOME": str(tmp_path)})
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [f"voiceloop: {bad}: asr.hotwords[2]: expected text, got a mapping {{'x': 1}}"]
    assert proc.stdout == ""
    assert not out_dir.exists()
