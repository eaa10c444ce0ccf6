"""The CLI modes as a user runs them: transcribe with Paraformer, sysinfo, check, devices."""

from __future__ import annotations

import json
import os
import shutil
import sys
import time

import psutil
import pytest

from support.cli import run_voiceloop
from support.openai_server import Script, ThreadedOpenAIServer
from support.recordings import ZH

CLIP = "funasr_csharp_1.wav"


@pytest.fixture()
def paraformer_config(tmp_path, tiny_models):
    path = tmp_path / "voiceloop.yaml"
    path.write_text(f"asr:\n  model: {tiny_models.seaco}\n  vad_model: {tiny_models.vad}\n"
                    f"  punc_model: {tiny_models.punc}\n  device: cpu\n  threads: 2\n", encoding="utf-8")
    return path


def test_transcribe_with_paraformer_writes_json_with_sentences(tmp_path, paraformer_config):
    clip = shutil.copy(ZH / CLIP, tmp_path / CLIP)
    out = tmp_path / "out"
    proc = run_voiceloop("transcribe", "--config", str(paraformer_config), "--format", "json,srt",
                      "--hotwords", "达摩院，魔搭", "--output-dir", str(out), str(clip),
                      env_extra={"HOME": str(tmp_path)})
    assert proc.returncode == 0, proc.stderr
    doc = json.loads((out / "funasr_csharp_1.json").read_text(encoding="utf-8"))
    assert doc["engine"] == "paraformer" and doc["model"]
    assert abs(doc["duration_s"] - 13.05) < 0.05
    assert doc["sentences"], "VAD + punctuation give timed sentences"
    assert all(0 <= s["start_ms"] <= s["end_ms"] <= 13100 for s in doc["sentences"])
    assert (out / "funasr_csharp_1.srt").read_text(encoding="utf-8").startswith("1\n")
    assert "funasr_csharp_1.wav" in proc.stdout and "1 file(s)" in proc.stdout
    assert "\r" not in proc.stderr, "no progress bar when stderr is not a terminal"


def test_missing_hub_model_offline_fails_fast_naming_it_and_the_fix(tmp_path, zh_audio):
    started = time.monotonic()
    proc = run_voiceloop("transcribe", str(zh_audio / CLIP),
                      env_extra={"HOME": str(tmp_path), "VOICELOOP_OFFLINE": "1"}, timeout=60)
    assert time.monotonic() - started < 20  # process start + imports; the resolution itself is instant
    assert proc.returncode == 2
    assert "speech_seaco_paraformer_large_asr_nat-zh-cn-16k-common-vocab8404-pytorch" in proc.stderr
    assert "scripts/fetch-models" in proc.stderr
    assert "not registered" not in proc.stderr


def test_sysinfo_json_reports_this_machine(tmp_path, paraformer_config, tiny_models):
    proc = run_voiceloop("sysinfo", "--json", "--config", str(paraformer_config), env_extra={"HOME": str(tmp_path)})
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    import torch

    has_gpu = torch.cuda.is_available()
    assert info["device"] == ("cuda:0" if has_gpu else "cpu")
    assert info["cuda_available"] is has_gpu and (len(info["gpus"]) > 0) is has_gpu
    assert info["torch_version"] == torch.__version__
    assert info["cpu_cores_logical"] == os.cpu_count()
    total = psutil.virtual_memory().total // 2**20
    assert abs(info["ram_total_mib"] - total) <= 1 and 0 < info["ram_available_mib"] <= total
    assert info["python"] == sys.version.split()[0]
    assert info["libraries"]["funasr"] == "1.4.16"
    roles = {m["role"]: m for m in info["models"]}
    assert roles["asr"]["path"] == str(tiny_models.seaco) and roles["punc"]["path"] == str(tiny_models.punc)
    assert info["config_file"] == str(paraformer_config)


def test_sysinfo_text_says_what_is_missing(tmp_path):
    proc = run_voiceloop("sysinfo", env_extra={"HOME": str(tmp_path), "VOICELOOP_OFFLINE": "1",
                                            "PULSE_SERVER": f"unix:{tmp_path}/no-such-server"})
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    assert "config        built-in defaults" in text
    assert "MISSING" in text and "scripts/fetch-models" in text
    import torch

    if not torch.cuda.is_available():
        assert "gpu           none found" in text
    assert "ram " in text and "python " in text and "funasr 1.4.16" in text
    assert "audio in " in text and "audio out " in text


def test_check_passes_when_models_llm_and_devices_are_usable(tmp_path, paraformer_config, pulse):
    with ThreadedOpenAIServer(Script()) as llm:
        config = tmp_path / "full.yaml"
        config.write_text(paraformer_config.read_text(encoding="utf-8")
                          + f"llm:\n  base_url: {llm.base_url}\naudio:\n  input_device: pulse\n  output_device: pulse\n",
                          encoding="utf-8")
        proc = run_voiceloop("check", "--config", str(config), env_extra={"HOME": str(tmp_path), **pulse.env})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip().endswith("all checks passed")
    assert "FAIL" not in proc.stdout


@pytest.mark.slow  # a subprocess that loads the offline neural voice: ~5 s

def test_check_fails_and_says_why(tmp_path):
    config = tmp_path / "bad.yaml"
    config.write_text("llm:\n  base_url: http://127.0.0.1:9/v1\naudio:\n  input_device: Scarlett\n", encoding="utf-8")
    proc = run_voiceloop("check", "--config", str(config), env_extra={
        "HOME": str(tmp_path), "VOICELOOP_OFFLINE": "1", "PULSE_SERVER": f"unix:{tmp_path}/none"})
    assert proc.returncode == 1
    lines = proc.stdout.splitlines()
    assert any(l.startswith("FAIL") and "asr model" in l and "fetch-models" in l for l in lines), proc.stdout
    assert any(l.startswith("FAIL") and "llm" in l and "127.0.0.1:9" in l for l in lines), proc.stdout
    assert any(l.startswith("FAIL") and "Scarlett" in l for l in lines), proc.stdout
    assert lines[-1].endswith("check(s) failed")


def test_devices_lists_the_pulse_devices(tmp_path, pulse):
    proc = run_voiceloop("devices", env_extra={"HOME": str(tmp_path), **pulse.env})
    assert proc.returncode == 0, proc.stderr
    assert "pulse" in proc.stdout
