"""ParaformerEngine through the product path: AsrConfig -> model resolution -> funasr.AutoModel -> Transcript.

The models are FunASR's own classes with random weights (tests/support/funasr_models.py), so the
text is meaningless, but segmenting, timing, hotword plumbing, devices and errors are all real.
"""

from __future__ import annotations

import logging
import re
import shutil
import threading
import time
from dataclasses import replace

import psutil
import pytest
import torch

from voiceloop.asr.models import describe_models, find_in_cache
from voiceloop.asr.paraformer import ParaformerEngine
from voiceloop.asr.results import hotword_argument
from voiceloop.config import AsrConfig
from voiceloop.errors import ConfigError, ModelNotFoundError

HANZI = re.compile(r"[\u4e00-\u9fff]")
HUB_NAME = "iic/speech_seaco_paraformer_large_asr_nat-zh-cn-16k-common-vocab8404-pytorch"


def config(models, **overrides) -> AsrConfig:
    base = AsrConfig(model=str(models.seaco), vad_model=str(models.vad), punc_model=str(models.punc), threads=2)
    return replace(base, **overrides)


@pytest.fixture(scope="module")
def engine(tiny_models) -> ParaformerEngine:
    return ParaformerEngine(config(tiny_models))


def assert_sane_sentences(transcript, duration_ms: int) -> None:
    starts = [s.start_ms for s in transcript.sentences]
    assert starts == sorted(starts), starts
    for s in transcript.sentences:
        assert HANZI.search(s.text), s
        assert 0 <= s.start_ms <= s.end_ms <= duration_ms, s
    assert "".join(s.text for s in transcript.sentences) == transcript.text


def test_vad_and_punctuation_give_timed_sentences_on_a_real_recording(engine, speech):
    result = engine.transcribe(speech)
    duration_ms = int(len(speech) / 16)
    assert HANZI.search(result.text) and " " not in result.text
    assert re.search(r"[，。？]", result.text), "the punctuation model took part"
    assert len(result.sentences) >= 2
    assert_sane_sentences(result, duration_ms)
    assert result.duration_s == pytest.approx(13.05, abs=0.01)
    assert 0 < result.processing_s < 60 and result.engine == "paraformer"


def test_hotwords_reach_the_model(tiny_models, engine, speech):
    plain = engine.transcribe(speech).text
    damo = engine.transcribe(speech, ("魔搭", "达摩院")).text
    cities = engine.transcribe(speech, ("北京", "上海")).text
    assert damo != plain and cities != plain and damo != cities
    assert engine.transcribe(speech).text == plain, "one call's hotwords must not stick to the next"
    configured = ParaformerEngine(config(tiny_models, hotwords=("魔搭",)))
    assert configured.transcribe(speech, ("达摩院",)).text == damo, "configured and per-call hotwords combine"


def test_hotword_argument_is_what_seaco_expects():
    assert hotword_argument(("魔搭", "达摩院 魔搭", " ")) == "魔搭 达摩院"
    assert hotword_argument(("https://example.com/x", "words.txt", "阿里")) == "阿里"


def test_a_minute_of_speech_is_cut_into_many_sentences(engine, long_speech):
    result = engine.transcribe(long_speech)
    assert len(result.sentences) >= 5
    assert_sane_sentences(result, 60_000)
    assert result.sentences[-1].end_ms > 50_000, "the whole input was recognised, not just the start"


def test_plain_paraformer_without_vad_or_punctuation(tiny_models, speech, caplog):
    cfg = config(tiny_models, model=str(tiny_models.paraformer), vad_model="", punc_model="", hotwords=("魔搭",))
    with caplog.at_level(logging.WARNING):
        plain = ParaformerEngine(cfg)
    assert "not a SeACo-Paraformer model" in caplog.text
    result = plain.transcribe(speech)
    assert HANZI.search(result.text) and " " not in result.text
    assert len(result.sentences) == 1 and result.sentences[0].text == result.text
    assert [m.role for m in plain.info().models] == ["asr"]
    assert plain.transcribe(speech[:0]).text == ""


def test_info_names_each_model_and_its_dir(tiny_models, engine):
    info = engine.info()
    assert info.engine == "paraformer"
    assert [(m.role, m.path) for m in info.models] == [
        ("asr", str(tiny_models.seaco.resolve())), ("vad", str(tiny_models.vad.resolve())),
        ("punc", str(tiny_models.punc.resolve()))]


def test_no_memory_growth_over_repeated_calls(engine, speech):
    rss = psutil.Process().memory_info
    for _ in range(5):
        engine.transcribe(speech, ("魔搭",))
    before = rss().rss
    for _ in range(20):
        engine.transcribe(speech, ("魔搭",))
    assert rss().rss - before < 40 * 2**20


def test_funasr_leaves_our_logging_alone(tiny_models, speech, caplog):
    root = logging.getLogger()
    with caplog.at_level(logging.INFO):
        handlers = list(root.handlers)
        engine = ParaformerEngine(config(tiny_models))
        engine.transcribe(speech, ("魔搭",))  # funasr logs the hotword list at INFO via the root logger
        assert root.level == logging.INFO and root.handlers == handlers
    funasr_records = [r for r in caplog.records if "funasr" in r.pathname and r.levelno >= logging.INFO]
    assert funasr_records == []
    assert [r for r in caplog.records if r.name == "voiceloop.asr.paraformer"], "our own load message stays"


def test_device_auto_and_explicit_cuda(tiny_models):
    has_gpu = torch.cuda.is_available()
    auto = ParaformerEngine(config(tiny_models, device="auto"))
    assert auto.info().device.startswith("cuda:0 (") if has_gpu else auto.info().device == "cpu"
    if has_gpu:
        assert ParaformerEngine(config(tiny_models, device="cuda")).info().device.startswith("cuda:0")
    else:
        with pytest.raises(ConfigError, match="cuda requested but no CUDA GPU"):
            ParaformerEngine(config(tiny_models, device="cuda"))


def test_a_local_dir_missing_files_is_named(tiny_models, tmp_path):
    broken = tmp_path / "seaco-copy"
    shutil.copytree(tiny_models.seaco, broken)
    (broken / "model.pt").unlink()
    with pytest.raises(ModelNotFoundError, match=r"lacks model\.pt") as err:
        ParaformerEngine(config(tiny_models, model=str(broken)))
    assert str(broken) in str(err.value) and "asr.model" in str(err.value)
    with pytest.raises(ModelNotFoundError, match="does not exist"):
        ParaformerEngine(config(tiny_models, vad_model=str(tmp_path / "no-such-vad")))


@pytest.mark.parametrize("env", [{"VOICELOOP_OFFLINE": "1"}, {"MODELSCOPE_DOMAIN": "127.0.0.1:9"}])
def test_offline_and_not_cached_fails_fast_with_the_fix(tiny_models, tmp_path, monkeypatch, env):
    monkeypatch.delenv("VOICELOOP_OFFLINE", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    started = time.monotonic()
    with pytest.raises(ModelNotFoundError) as err:
        ParaformerEngine(config(tiny_models, model=HUB_NAME, cache_dir=str(tmp_path / "empty-cache")))
    assert time.monotonic() - started < 3
    message = str(err.value)
    assert HUB_NAME in message and "scripts/fetch-models" in message and "set asr.model to its path" in message
    assert "cannot be reached" in message


@pytest.mark.parametrize("layout", ["models/iic/{safe}", "models/iic/{name}", "iic/{name}",
                                    "models/iic--{name}/snapshots/master"])
def test_modelscope_cache_layouts_are_found(tiny_models, tmp_path, layout):
    name = "speech_tiny_v1.0-pytorch"
    where = tmp_path / layout.format(name=name, safe=name.replace(".", "___"))
    shutil.copytree(tiny_models.seaco, where)
    assert find_in_cache(f"iic/{name}", str(tmp_path)) == where
    assert find_in_cache("iic/other-model", str(tmp_path)) is None


def test_a_cached_hub_name_loads_offline(tiny_models, tmp_path, monkeypatch, speech):
    monkeypatch.setenv("VOICELOOP_OFFLINE", "1")
    cache = tmp_path / "hub"
    shutil.copytree(tiny_models.seaco, cache / "models" / "iic" / "speech_tiny")
    cfg = config(tiny_models, model="iic/speech_tiny", cache_dir=str(cache))
    engine = ParaformerEngine(cfg)
    assert engine.info().models[0].path == str((cache / "models" / "iic" / "speech_tiny").resolve())
    assert HANZI.search(engine.transcribe(speech).text)
    found = {m.role: m for m in describe_models(replace(cfg, punc_model="iic/not-downloaded"))}
    assert found["asr"].path and found["vad"].path
    assert found["punc"].path is None and "iic/not-downloaded" in found["punc"].problem


def test_calls_from_many_threads_are_serialised_on_the_engines_own(engine, speech):
    """The dialogue, the API and Wyoming call from different threads; the torch work runs on the
    engine's one thread (one OpenMP team), one call at a time, each with its own hotwords."""
    from concurrent.futures import ThreadPoolExecutor

    expected = {hw: engine.transcribe(speech, hw).text for hw in ((), ("魔搭",))}
    with ThreadPoolExecutor(4) as callers:
        got = list(callers.map(lambda hw: (hw, engine.transcribe(speech, hw).text), [(), ("魔搭",)] * 3))
    assert all(text == expected[hw] for hw, text in got)
    assert [t.name for t in threading.enumerate() if t.name.startswith("paraformer")] != []
