"""The optimised graphs kept in the user's cache: a second start loads them as they are and answers
the same; a damaged copy is said, optimised again and replaced."""

from __future__ import annotations

import logging

import pytest
from support.onnx_models import cfg

from voiceloop.asr import create_engine
from voiceloop.asr.onnx.session import open_session
from voiceloop.errors import ModelNotFoundError


def test_a_second_start_loads_the_cached_graphs_and_a_damaged_one_is_rebuilt(exported, speech, monkeypatch,
                                                                             tmp_path, caplog):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    config = cfg(exported[0], backend="onnx")
    first = create_engine(config).transcribe(speech)
    cache = tmp_path / "cache" / "voiceloop" / "onnx"
    kept = {p.name: p.stat().st_mtime_ns for p in cache.glob("*.onnx")}
    assert {name.split("-")[0] for name in kept} == {"model_quant", "model_eb_quant"}  # ASR, hotwords, VAD, punc
    assert len(kept) == 4 and not list(cache.glob(".*.tmp"))

    second = create_engine(config).transcribe(speech)
    assert (second.text, second.sentences) == (first.text, first.sentences) and first.text
    assert {p.name: p.stat().st_mtime_ns for p in cache.glob("*.onnx")} == kept  # loaded, not written again

    damaged = max(cache.glob("model_quant-*.onnx"), key=lambda p: p.stat().st_size)
    damaged.write_bytes(b"not a graph")
    with caplog.at_level(logging.WARNING):
        third = create_engine(config).transcribe(speech)
    assert (third.text, third.sentences) == (first.text, first.sentences)
    assert "the cached optimised graph cannot be loaded" in caplog.text
    assert damaged.stat().st_size > 1000  # optimised again and kept


def test_a_graph_that_cannot_load_is_named_and_leaves_nothing_in_the_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    broken = tmp_path / "model_quant.onnx"
    broken.write_bytes(b"half a download")
    with pytest.raises(ModelNotFoundError, match=r"model_quant.onnx: onnxruntime cannot load it .* export-onnx"):
        open_session(broken, 1)
    assert not [p for p in (tmp_path / "cache").rglob("*") if p.is_file()]
