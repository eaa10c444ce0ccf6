"""The ONNX path's shortcuts give the answers of the full path.

Gated graphs skip the timestamp predictor, the CIF peak loop and the hotword decoder when told to
and compute the same outputs otherwise; text without times is the text with them; VAD segments
recognised side by side give the one-by-one sentences; an older export is upgraded in place.
All on the tiny random-weight models exported by the real `voiceloop export-onnx --quantize`.
"""

from __future__ import annotations

import logging
import shutil

import numpy as np
import onnx
import pytest
from support.onnx_models import cfg

from voiceloop.asr import create_engine
from voiceloop.asr.onnx.export import export_dir
from voiceloop.asr.onnx.gates import VERSION_KEY, graph_version, remove_gates
from voiceloop.asr.onnx.paraformer import _integrate
from voiceloop.asr.onnx.session import open_session

NO = np.array(False)


@pytest.fixture(scope="module")
def engines(exported):
    """fp32 and int8 engines as the dialogue gets them (one segment at a time, all threads)."""
    return {q: create_engine(cfg(exported[0], backend="onnx", quantize=q)) for q in (False, True)}


@pytest.fixture(scope="module")
def graph_run(exported, speech):
    """Runs the int8 SeACo graph on real speech with some gates closed: name -> output."""
    from voiceloop.asr.onnx.front import FrontConfig, Frontend, load_cmvn
    from voiceloop.asr.onnx.session import read_model_config

    seaco = exported[0]["seaco"]
    front = Frontend(FrontConfig.from_model_config(read_model_config(seaco)), load_cmvn(seaco / "am.mvn"))
    feats = front.features(speech)
    session = open_session(seaco / "model_quant.onnx", 1)
    dim = session.get_inputs()[2].shape[2]
    feed = {"speech": feats[None], "speech_lengths": np.array([feats.shape[0]], np.int32),
            "bias_embed": np.random.default_rng(0).standard_normal((1, 3, dim)).astype(np.float32)}
    names = [o.name for o in session.get_outputs()]
    return lambda **flags: dict(zip(names, session.run(None, {**feed, **{k: NO for k in flags}})))


def test_closed_gates_skip_their_outputs_and_leave_the_others_alone(graph_run):
    full = graph_run()
    assert full["us_alphas"].size and full["us_cif_peak"].size
    no_times = graph_run(timestamps=False)
    assert no_times["us_alphas"].size == 0 and no_times["us_cif_peak"].size == 0
    no_hotwords = graph_run(hotwords=False)
    assert np.array_equal(no_hotwords["logits"], full["decoder_logits"])
    assert not np.array_equal(full["logits"], full["decoder_logits"]), "the hotword decoder changed something"
    for name in ("token_num", "decoder_logits"):
        assert np.array_equal(no_times[name], full[name]) and np.array_equal(no_hotwords[name], full[name])
    assert np.array_equal(no_times["logits"], full["logits"])


def test_numpy_peaks_are_the_graph_loop_peaks_bit_for_bit(graph_run):
    full = graph_run()
    no_peaks = graph_run(cif_peaks=False)
    assert no_peaks["us_cif_peak"].size == 0
    assert np.array_equal(no_peaks["us_alphas"], full["us_alphas"])
    assert np.array_equal(_integrate(no_peaks["us_alphas"][0]), full["us_cif_peak"][0])


def test_int8_graph_has_int8_lstm_weights_and_the_version_mark(exported):
    model = onnx.load(str(exported[0]["seaco"] / "model_quant.onnx"), load_external_data=False)
    assert graph_version(model) == "2"
    assert [i.name for i in model.graph.input][-3:] == ["cif_peaks", "timestamps", "hotwords"]
    timestamp_branch = next(a.g for n in model.graph.node if n.name == "gate_timestamps" for a in n.attribute
                            if a.name == "then_branch")
    assert "DynamicQuantizeLSTM" in {n.op_type for n in timestamp_branch.node}


@pytest.mark.parametrize("quantize", [False, True], ids=["fp32", "int8"])
@pytest.mark.parametrize("hotwords", [(), ("魔搭", "达摩院")], ids=["plain", "hotwords"])
def test_text_without_timestamps_is_the_text_with_them(engines, long_speech, quantize, hotwords):
    timed = engines[quantize].transcribe(long_speech, hotwords)
    plain = engines[quantize].transcribe(long_speech, hotwords, timestamps=False)
    assert len(timed.sentences) >= 5 and timed.sentences[-1].end_ms > 50_000
    assert plain.text == timed.text and plain.sentences == ()


@pytest.mark.parametrize("quantize", [False, True], ids=["fp32", "int8"])
def test_segments_side_by_side_give_the_one_by_one_sentences(exported, engines, long_speech, quantize, caplog):
    with caplog.at_level(logging.INFO, logger="voiceloop.asr.onnx.engine"):
        batch = create_engine(cfg(exported[0], backend="onnx", quantize=quantize), batch=True)
    assert "2 x 1 threads" in caplog.text
    for hotwords in ((), ("魔搭",)):
        expected = engines[quantize].transcribe(long_speech, hotwords)
        assert batch.transcribe(long_speech, hotwords).sentences == expected.sentences


def test_an_older_export_is_upgraded_in_place(exported, engines, tmp_path, speech):
    """A dir exported before the gates (no version mark, int8 LSTM left fp32) is brought up to date
    by export-onnx without torch, and answers as a fresh export does."""
    dirs = {role: shutil.copytree(path, tmp_path / role) for role, path in exported[0].items()}
    seaco = dirs["seaco"]
    old = remove_gates(onnx.load(str(seaco / "model.onnx")))
    kept = [p for p in old.metadata_props if p.key != VERSION_KEY]
    del old.metadata_props[:]
    old.metadata_props.extend(kept)
    onnx.save(old, str(seaco / "model.onnx"))
    (seaco / "model_quant.onnx").unlink()
    assert graph_version(onnx.load(str(seaco / "model.onnx"), load_external_data=False)) == "1"

    result = export_dir(seaco, quantize=True)
    assert {p.name for p in result.files} >= {"model.onnx", "model_quant.onnx"}
    for name in ("model.onnx", "model_quant.onnx"):
        assert graph_version(onnx.load(str(seaco / name), load_external_data=False)) == "2"
    assert export_dir(seaco, quantize=True).files == (), "nothing to do the second time"
    for quantize in (False, True):
        upgraded = create_engine(cfg(dirs, backend="onnx", quantize=quantize))
        assert upgraded.transcribe(speech).sentences == engines[quantize].transcribe(speech).sentences


def test_the_vad_hands_out_each_minutes_segments_before_cutting_the_next(exported, long_speech):
    from voiceloop.asr.onnx.vad import OnnxVad

    vad = OnnxVad(exported[0]["vad"], quantize=True, threads=1)
    two_minutes = np.concatenate([long_speech, long_speech])
    chunks = list(vad.iter_segments(two_minutes))
    assert len(chunks) == 3 and chunks[0], "one list per 60 s chunk, plus the end"
    assert all(end <= 60_000 for _, end in chunks[0])
    assert [s for chunk in chunks for s in chunk] == vad.segments(two_minutes)
