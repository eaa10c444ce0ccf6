"""The CPU fast path: `voiceloop export-onnx`, then the same answers as torch from onnxruntime alone.

The tiny random-weight FunASR models (tests/support/funasr_models.py) are exported by the real
command line; the ONNX engine must then give exactly the torch engine's sentences (text and
times) through VAD, SeACo hotwords and punctuation, without importing torch or funasr.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from support.cli import run_voiceloop
from support.onnx_models import cfg
from support.recordings import ZH

from voiceloop.asr import create_engine
from voiceloop.asr.onnx.engine import OnnxParaformerEngine
from voiceloop.asr.onnx.export import ExportError, export_dir
from voiceloop.asr.paraformer import ParaformerEngine
from voiceloop.config import AsrConfig
from voiceloop.errors import ModelNotFoundError

HANZI = re.compile(r"[\u4e00-\u9fff]")
ONNX_NAMES = ("model.onnx", "model_quant.onnx", "model_eb.onnx", "model_eb_quant.onnx")


@pytest.fixture(scope="module")
def torch_engine(exported):
    return ParaformerEngine(cfg(exported[0]))


@pytest.fixture(scope="module")
def onnx_fp32(exported):
    return create_engine(cfg(exported[0], backend="onnx", quantize=False))


def test_export_writes_funasr_runtime_file_names(exported):
    dirs, _, stdout = exported
    assert sorted(p.name for p in dirs["seaco"].glob("*.onnx")) == sorted(ONNX_NAMES)
    for role in ("vad", "punc"):
        assert sorted(p.name for p in dirs[role].glob("*.onnx")) == ["model.onnx", "model_quant.onnx"]
    assert not list(dirs["seaco"].glob(".*tmp")), "no temporary files are left behind"
    assert "SeacoParaformer" in stdout and "FsmnVADStreaming" in stdout and "CTTransformer" in stdout


@pytest.mark.parametrize("hotwords", [(), ("魔搭", "达摩院"), ("北京", "上海")])
def test_fp32_onnx_gives_the_torch_sentences(torch_engine, onnx_fp32, speech, hotwords):
    expected = torch_engine.transcribe(speech, hotwords)
    got = onnx_fp32.transcribe(speech, hotwords)
    assert isinstance(onnx_fp32, OnnxParaformerEngine)
    assert got.sentences == expected.sentences and got.text == expected.text
    assert len(got.sentences) >= 2 and re.search(r"[，。？]", got.text)


def test_fp32_onnx_equals_torch_on_a_minute_cut_by_the_vad(torch_engine, onnx_fp32, long_speech):
    expected = torch_engine.transcribe(long_speech, ("魔搭",))
    got = onnx_fp32.transcribe(long_speech, ("魔搭",))
    assert len(got.sentences) >= 5 and got.sentences[-1].end_ms > 50_000
    assert got.sentences == expected.sentences


def test_hotwords_change_the_onnx_text_and_do_not_stick(onnx_fp32, speech):
    plain = onnx_fp32.transcribe(speech).text
    assert onnx_fp32.transcribe(speech, ("魔搭", "达摩院")).text != plain
    assert onnx_fp32.transcribe(speech).text == plain


def test_plain_paraformer_without_vad_equals_torch(tiny_models, tmp_path, speech):
    model = shutil.copytree(tiny_models.paraformer, tmp_path / "paraformer")
    export_dir(model, quantize=False)
    config = AsrConfig(model=str(model), vad_model="", punc_model="", threads=2, hotwords=("魔搭",))
    onnx = create_engine(replace(config, backend="onnx", quantize=False))
    expected = ParaformerEngine(config).transcribe(speech)
    assert onnx.transcribe(speech).sentences == expected.sentences
    assert [m.role for m in onnx.info().models] == ["asr"]
    assert onnx.transcribe(speech[:0]).text == ""


def test_int8_engine_uses_the_quantized_graphs(exported, onnx_fp32, speech):
    int8 = create_engine(cfg(exported[0], backend="onnx", quantize=True))
    assert "int8" in int8.info().device and "fp32" in onnx_fp32.info().device
    seaco = exported[0]["seaco"]
    assert (seaco / "model_quant.onnx").stat().st_size < (seaco / "model.onnx").stat().st_size
    result = int8.transcribe(speech, ("魔搭",))
    assert HANZI.search(result.text) and len(result.sentences) >= 2


def test_onnx_path_imports_neither_torch_nor_funasr(exported):
    """`auto` on a CPU with exported dirs: onnx, and sys.modules shows no torch or funasr afterwards."""
    config = exported[1]
    code = (
        "import sys, json\n"
        "from voiceloop.configload import load_config\n"
        "from voiceloop.asr import create_engine\n"
        "from voiceloop.audio.decode import decode_file\n"
        f"cfg, _ = load_config({str(config)!r})\n"
        "engine = create_engine(cfg.asr)\n"
        f"result = engine.transcribe(decode_file({str(ZH / 'funasr_csharp_1.wav')!r}), ('魔搭',))\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'funasr', 'torchaudio'))\n"
        "print(json.dumps({'heavy': heavy, 'device': engine.info().device, 'text': result.text}))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False,
                          env={**__import__("os").environ, "VOICELOOP_CONFIG": ""})
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["heavy"] == []
    assert report["device"] == "cpu (onnxruntime, int8)" and HANZI.search(report["text"])


def test_missing_export_with_backend_onnx_names_the_fix(tiny_models, tmp_path):
    bare = shutil.copytree(tiny_models.seaco, tmp_path / "seaco")
    config = AsrConfig(model=str(bare), vad_model="", punc_model="", backend="onnx")
    with pytest.raises(ModelNotFoundError) as err:
        create_engine(config)
    message = str(err.value)
    assert str(bare) in message and "voiceloop export-onnx --config <your config> --quantize" in message
    assert isinstance(create_engine(replace(config, backend="auto")), ParaformerEngine), "auto falls back to torch"


def test_an_onnx_only_dir_runs_like_a_funasr_published_one(exported, tmp_path, speech, onnx_fp32):
    """FunASR publishes -onnx model dirs without model.pt: auto picks onnx, torch says why it cannot."""
    dirs = {}
    for role, source in exported[0].items():
        dirs[role] = shutil.copytree(source, tmp_path / role, ignore=shutil.ignore_patterns("model.pt"))
    engine = create_engine(cfg(dirs, quantize=False))
    assert isinstance(engine, OnnxParaformerEngine)
    assert engine.transcribe(speech).sentences == onnx_fp32.transcribe(speech).sentences
    with pytest.raises(ModelNotFoundError, match="holds only ONNX files.*asr.backend to onnx"):
        create_engine(cfg(dirs, backend="torch"))


def test_a_model_class_that_cannot_be_exported_is_named(tmp_path):
    model = tmp_path / "sensevoice"
    model.mkdir()
    (model / "config.yaml").write_text("model: SenseVoiceSmall\n")
    (model / "model.pt").write_bytes(b"")
    config = tmp_path / "voiceloop.yaml"
    config.write_text(f"asr:\n  model: {model}\n  vad_model: ''\n  punc_model: ''\n")
    proc = run_voiceloop("export-onnx", "--config", str(config))
    assert proc.returncode == 2
    assert f"voiceloop: {model}: model class SenseVoiceSmall cannot be exported" in proc.stderr
    assert not list(model.glob("*.onnx"))


def test_a_corrupt_checkpoint_is_a_clear_export_error(tiny_models, tmp_path):
    broken = shutil.copytree(tiny_models.punc, tmp_path / "punc")
    (broken / "model.pt").write_bytes(b"this is not a torch checkpoint")
    with pytest.raises(ExportError, match=r"funasr cannot load this model.*scripts/fetch-models"):
        export_dir(broken, quantize=True)
    assert not list(Path(broken).glob("*.onnx"))


def test_whisper_engine_has_nothing_to_export(tmp_path):
    config = tmp_path / "voiceloop.yaml"
    config.write_text("asr:\n  engine: whisper\n")
    proc = run_voiceloop("export-onnx", "--config", str(config))
    assert proc.returncode == 2 and "export-onnx applies to the paraformer engine" in proc.stderr


def test_transcribe_jobs_recognises_files_at_once_with_the_same_results(exported, tmp_path, zh_audio):
    inputs = tmp_path / "in"
    inputs.mkdir()
    names = sorted(p.name for p in zh_audio.glob("*.wav"))[:4]
    for name in names:
        shutil.copy(zh_audio / name, inputs / name)
    (inputs / "broken.wav").write_bytes(b"RIFF not really")
    texts = {}
    for jobs in ("1", "3"):
        out = tmp_path / f"out{jobs}"
        proc = run_voiceloop("transcribe", "--config", str(exported[1]), "--jobs", jobs, "--format", "json",
                             "--output-dir", str(out), str(inputs))
        assert proc.returncode == 1 and "broken.wav" in proc.stderr and "1 of 5 file(s) failed" in proc.stderr
        rows = [line.split()[0] for line in proc.stdout.splitlines()[1:-1]]
        assert rows == names, "the table keeps the input order"
        texts[jobs] = {p.name: json.loads(p.read_text(encoding="utf-8"))["text"] for p in out.glob("*.json")}
    assert len(texts["1"]) == 4 and texts["3"] == texts["1"]
    assert run_voiceloop("transcribe", "--jobs", "0", str(inputs)).returncode == 2


def test_check_reports_a_missing_export_when_the_backend_is_onnx(tiny_models, exported):
    from voiceloop.asr.models import describe_models

    bare = cfg({"seaco": tiny_models.seaco, "vad": exported[0]["vad"], "punc": exported[0]["punc"]}, backend="onnx")
    found = {m.role: m for m in describe_models(bare)}
    assert found["vad"].path and found["punc"].path
    assert found["asr"].path is None and "voiceloop export-onnx" in found["asr"].problem
