"""Random-weight FunASR model dirs in the exact layout of a ModelScope download.

Each model is built by FunASR's own registered class from a `config.yaml`, so loading the dir back
through `funasr.AutoModel(model=<dir>)` exercises the real code path with every key matched. The
weights are random but shaped where it matters, so the pipeline produces observable behaviour:

- the CIF predictors fire about 4 tokens per second of audio (real Mandarin rate), so the decoder
  emits Chinese text with per-token timestamps;
- the VAD network always says "speech" and the model's own `decibel_thres` gate decides, so long
  recordings are cut at their real pauses;
- the SeACo hotword path (bias encoder -> seaco decoder -> hotword output layer) wins at some token
  positions, so hotwords visibly change the text;
- the punctuation model emits commas and full stops often enough to cut several sentences.

`size="large"` builds the SeACo model in the shapes of the 220 M-parameter Paraformer-large
(d=512, 50 encoder / 16 decoder blocks) for the throughput benchmark.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

# Frequent Hanzi, enough for output to read as Chinese text and for hotwords to map to tokens.
COMMON_HANZI = (
    "的一是不了人我在有他这为之大来以个中上们到说国和地也子时道出而要于就下得可你年生自会那后能对着事"
    "其里所去行过家十用发天如然作方成者多日都三小军二无同么经法当起与好看学进种将还分此心前面又定见只"
    "主没公从知现长此实本工动已两回点想开美问手些头样新间女力明外机高正体进相全使做意理情老西物由门"
    "电气向关无名政海通它内车身加打合最第特化重话结解比听场因水记认把光数代业东万总书入及常议声果条"
    "部少提流直各先口路活平题指期却先制区给山程原给白快次界交南取太务则领风北信运近马至管并品思产"
    "广州市房地产中介协会分析甚至出现交易几乎停滞况达摩院魔搭识别语音模型热词测试今天气很晴朗我们"
    "去公园散步吧请帮我打开灯关闭空调音乐播放明天早上点叫醒北京上海深圳杭州欢迎使用阿里巴巴"
)
SPECIALS_HEAD = ("<blank>", "<s>", "</s>")
UNK = "<unk>"
PUNC_LIST = ("<unk>", "_", "，", "。", "？", "、")

_FRONTEND = {"fs": 16000, "window": "hamming", "n_mels": 80, "frame_length": 25, "frame_shift": 10,
             "lfr_m": 7, "lfr_n": 6, "dither": 0.0}
_DROPOUT0 = {"dropout_rate": 0.0, "positional_dropout_rate": 0.0}


@dataclass(frozen=True, slots=True)
class TinyModels:
    """Model dirs loadable by `funasr.AutoModel` and by `voiceloop` as `asr.model` etc."""

    seaco: Path
    paraformer: Path
    vad: Path
    punc: Path


@dataclass(frozen=True, slots=True)
class _Shape:
    d: int
    heads: int
    ffn: int
    enc_blocks: int
    dec_blocks: int
    seaco_ffn: int
    seaco_blocks: int


_SHAPES = {
    "tiny": _Shape(d=64, heads=4, ffn=128, enc_blocks=2, dec_blocks=2, seaco_ffn=128, seaco_blocks=2),
    # speech_seaco_paraformer_large_asr_nat-zh-cn-16k-common-vocab8404: ~220 M parameters.
    "large": _Shape(d=512, heads=4, ffn=2048, enc_blocks=50, dec_blocks=16, seaco_ffn=1024, seaco_blocks=6),
}


def token_list(vocab_size: int | None = None) -> list[str]:
    """`<blank> <s> </s>`, unique common Hanzi, padding tokens up to `vocab_size`, then `<unk>` last."""
    chars = list(dict.fromkeys(ch for ch in COMMON_HANZI if not ch.isspace()))
    tokens = [*SPECIALS_HEAD, *chars]
    if vocab_size is not None:
        tokens += [f"tok{i}" for i in range(vocab_size - len(tokens) - 1)]
    return [*tokens, UNK]


def build_tiny_models(out_dir: Path, size: Literal["tiny", "large"] = "tiny") -> TinyModels:
    """Write seaco/, paraformer/, vad/ and punc/ under `out_dir` (deterministic: fixed seeds).

    `size="large"` makes seaco/ Paraformer-large shaped (vocab 8404); the others stay small.
    """
    out_dir = Path(out_dir)
    shape = _SHAPES[size]
    tokens = token_list(8404 if size == "large" else None)
    models = TinyModels(out_dir / "seaco", out_dir / "paraformer", out_dir / "vad", out_dir / "punc")
    _write_asr(models.seaco, _asr_config(shape, seaco=True), tokens, seed=11)
    _write_asr(models.paraformer, _asr_config(_SHAPES["tiny"], seaco=False), token_list(), seed=12)
    _write_vad(models.vad, seed=13)
    _write_punc(models.punc, token_list(), seed=14)
    return models


def _asr_config(s: _Shape, seaco: bool) -> dict[str, Any]:
    conf: dict[str, Any] = {
        "model": "SeacoParaformer" if seaco else "Paraformer",
        "model_conf": {"ctc_weight": 0.0, "lsm_weight": 0.1, "length_normalized_loss": True,
                       "predictor_weight": 1.0, "predictor_bias": 1, "sampling_ratio": 0.75},
        "encoder": "SANMEncoder",
        "encoder_conf": {"output_size": s.d, "attention_heads": s.heads, "linear_units": s.ffn,
                         "num_blocks": s.enc_blocks, **_DROPOUT0, "attention_dropout_rate": 0.0,
                         "input_layer": "pe", "pos_enc_class": "SinusoidalPositionEncoder",
                         "normalize_before": True, "kernel_size": 11, "sanm_shfit": 0,
                         "selfattention_layer_type": "sanm"},
        "decoder": "ParaformerSANMDecoder",
        "decoder_conf": {"attention_heads": s.heads, "linear_units": s.ffn, "num_blocks": s.dec_blocks,
                         **_DROPOUT0, "self_attention_dropout_rate": 0.0, "src_attention_dropout_rate": 0.0,
                         "att_layer_num": s.dec_blocks, "kernel_size": 11, "sanm_shfit": 0},
        "frontend": "WavFrontend",
        "frontend_conf": dict(_FRONTEND),
        "tokenizer": "CharTokenizer",
        "tokenizer_conf": {"unk_symbol": UNK, "split_with_space": True},
    }
    if not seaco:
        conf["predictor"] = "CifPredictorV2"
        conf["predictor_conf"] = {"idim": s.d, "threshold": 1.0, "l_order": 1, "r_order": 1,
                                  "tail_threshold": 0.45}
        return conf
    conf["predictor"] = "CifPredictorV3"
    conf["predictor_conf"] = {"idim": s.d, "threshold": 1.0, "l_order": 1, "r_order": 1, "tail_threshold": 0.45,
                              "smooth_factor2": 0.25, "noise_threshold2": 0.01, "upsample_times": 3,
                              "use_cif1_cnn": False, "upsample_type": "cnn_blstm"}
    conf["model_conf"].update({"inner_dim": s.d, "bias_encoder_type": "lstm", "bias_encoder_bid": False,
                               "seaco_lsm_weight": 0.1, "seaco_length_normalized_loss": True,
                               "train_decoder": True})
    conf["seaco_decoder"] = "ParaformerSANMDecoder"
    conf["seaco_decoder_conf"] = {"attention_heads": s.heads, "linear_units": s.seaco_ffn,
                                  "num_blocks": s.seaco_blocks, "att_layer_num": s.seaco_blocks, **_DROPOUT0,
                                  "self_attention_dropout_rate": 0.0, "src_attention_dropout_rate": 0.0,
                                  "kernel_size": 21, "sanm_shfit": 0, "use_output_layer": False,
                                  "wo_input_layer": True}
    return conf


def _instantiate(conf: dict[str, Any], vocab_size: int, input_size: int | None, seed: int):
    """Build the model exactly as `AutoModel.build_model` does: model_conf, then every top-level key."""
    import contextlib
    import io

    import torch

    with contextlib.redirect_stdout(io.StringIO()):  # funasr prints notices on import
        from funasr.register import tables

    torch.manual_seed(seed)
    kwargs = {**conf.get("model_conf", {}), **conf, "vocab_size": vocab_size, "input_size": input_size}
    model = tables.model_classes.get(conf["model"])(**kwargs)
    return model.eval()


def _write_asr(path: Path, conf: dict[str, Any], tokens: list[str], seed: int) -> None:
    import torch

    path.mkdir(parents=True, exist_ok=True)
    unk_id = len(tokens) - 1
    if conf["model"] == "SeacoParaformer":
        conf["model_conf"]["NO_BIAS"] = unk_id
    lfr_dim = _FRONTEND["n_mels"] * _FRONTEND["lfr_m"]
    model = _instantiate(conf, len(tokens), lfr_dim, seed)
    with torch.no_grad():
        _shape_asr_weights(model, tokens, seed)
    _save(path, conf, model, tokens)
    _write_cmvn(path / "am.mvn", _FRONTEND["n_mels"], _FRONTEND["lfr_m"])
    chars = [t for t in tokens if len(t) == 1]
    (path / "seg_dict").write_text("".join(f"{c} {c}\n" for c in chars), encoding="utf-8")


def _shape_asr_weights(model, tokens: list[str], seed: int) -> None:
    """Tune a few biases so random weights behave like speech recognition, not noise."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    pred = model.predictor
    # ~0.25 tokens per 60 ms encoder frame = 4 chars/s; small weights keep the rate audio-dependent.
    pred.cif_output.weight.mul_(0.3)
    pred.cif_output.bias.fill_(-1.1)
    if hasattr(pred, "cif_output2"):  # CifPredictorV3: the 3x upsampled alphas give timestamps
        pred.cif_output2.weight.mul_(0.3)
        pred.cif_output2.bias.fill_(-2.2)
    out = model.decoder.output_layer
    out.weight.normal_(0.0, 0.5, generator=gen)
    # Never emit the specials or padding tokens: keep the output readable Chinese.
    banned = [i for i, t in enumerate(tokens) if t.startswith("<") or t.startswith("tok")]
    out.bias.zero_()
    out.bias[banned] = -1e4
    if hasattr(model, "hotword_output_layer"):
        _shape_seaco_weights(model, banned, len(tokens) - 1, gen)


def _shape_seaco_weights(model, banned: list[int], no_bias_id: int, gen) -> None:
    """Make the hotword path strong enough that *which* hotwords are given shows in the text."""
    for param in model.bias_encoder.parameters():  # saturate the LSTM: distinct vector per hotword
        param.mul_(4.0)
    for layer in model.seaco_decoder.decoders:  # cross-attention to the hotwords dominates
        layer.src_attn.linear_out.weight.mul_(10.0)
    hot = model.hotword_output_layer
    hot.weight.normal_(0.0, 0.1, generator=gen)
    hot.bias.zero_()
    hot.bias[banned] = -1e4
    # NO_BIAS ("no hotword here") wins at most positions; the hotword path takes about a third.
    hot.bias[no_bias_id] = 3.0


def _write_vad(path: Path, seed: int) -> None:
    import torch

    path.mkdir(parents=True, exist_ok=True)
    conf = {
        "frontend": "WavFrontendOnline",
        "frontend_conf": {"fs": 16000, "window": "hamming", "n_mels": 80, "frame_length": 25,
                          "frame_shift": 10, "dither": 0.0, "lfr_m": 5, "lfr_n": 1},
        "model": "FsmnVADStreaming",
        "model_conf": {"sample_rate": 16000, "detect_mode": 1, "snr_mode": 0, "max_end_silence_time": 500,
                       "max_start_silence_time": 3000, "do_start_point_detection": True,
                       "do_end_point_detection": True, "window_size_ms": 200, "sil_to_speech_time_thres": 150,
                       "speech_to_sil_time_thres": 150, "speech_2_noise_ratio": 1.0, "do_extend": 1,
                       "lookback_time_start_point": 200, "lookahead_time_end_point": 100,
                       "max_single_segment_time": 60000, "snr_thres": -100.0, "noise_frame_num_used_for_snr": 100,
                       "decibel_thres": -30.0, "speech_noise_thres": 0.6, "fe_prior_thres": 0.0001,
                       "silence_pdf_num": 1, "sil_pdf_ids": [0], "speech_noise_thresh_low": -0.1,
                       "speech_noise_thresh_high": 0.3, "output_frame_probs": False, "frame_in_ms": 10,
                       "frame_length_ms": 25},
        "encoder": "FSMN",
        "encoder_conf": {"input_dim": 400, "input_affine_dim": 140, "fsmn_layers": 4, "linear_dim": 250,
                         "proj_dim": 128, "lorder": 20, "rorder": 0, "lstride": 1, "rstride": 0,
                         "output_affine_dim": 140, "output_dim": 248},
    }
    model = _instantiate(conf, -1, 400, seed)
    with torch.no_grad():
        # The network always votes "speech"; the energy gate (decibel_thres) finds the pauses.
        last = model.encoder.out_linear2.linear
        last.weight.zero_()
        last.bias.zero_()
        last.bias[0] = -8.0
        last.bias[1] = 8.0
    _save(path, conf, model, tokens=None)
    _write_cmvn(path / "am.mvn", 80, 5)


def _write_punc(path: Path, tokens: list[str], seed: int) -> None:
    import torch

    path.mkdir(parents=True, exist_ok=True)
    conf = {
        "model": "CTTransformer",
        "model_conf": {"ignore_id": 0, "embed_unit": 64, "att_unit": 64, "dropout_rate": 0.0,
                       "punc_list": list(PUNC_LIST), "punc_weight": [1.0] * len(PUNC_LIST), "sentence_end_id": 3},
        "encoder": "SANMEncoder",
        "encoder_conf": {"input_size": 64, "output_size": 64, "attention_heads": 4, "linear_units": 128,
                         "num_blocks": 2, **_DROPOUT0, "attention_dropout_rate": 0.0, "input_layer": "pe",
                         "pos_enc_class": "SinusoidalPositionEncoder", "normalize_before": True,
                         "kernel_size": 11, "sanm_shfit": 0, "selfattention_layer_type": "sanm",
                         "padding_idx": 0},
        "tokenizer": "CharTokenizer",
        "tokenizer_conf": {"unk_symbol": UNK},
    }
    model = _instantiate(conf, len(tokens), None, seed)
    with torch.no_grad():
        # Mostly "no punctuation", with commas and full stops often enough to cut sentences.
        model.decoder.bias.copy_(torch.tensor([-1e4, 1.8, 0.3, 0.4, -1e4, -1e4]))
    _save(path, conf, model, tokens)


def _save(path: Path, conf: dict[str, Any], model, tokens: list[str] | None) -> None:
    import torch
    import yaml

    (path / "config.yaml").write_text(yaml.safe_dump(conf, allow_unicode=True, sort_keys=False), encoding="utf-8")
    torch.save(model.state_dict(), path / "model.pt")
    if tokens is not None:
        (path / "tokens.json").write_text(json.dumps(tokens, ensure_ascii=False), encoding="utf-8")
    (path / "configuration.json").unlink(missing_ok=True)


def _write_cmvn(path: Path, n_mels: int, lfr_m: int) -> None:
    """Kaldi nnet-style global CMVN (`<AddShift>` means, `<Rescale>` 1/std) as in real model dirs."""
    mels = np.arange(n_mels, dtype=np.float64)
    shift = np.tile(-(12.0 - 3.0 * mels / n_mels), lfr_m)  # log-mel energy falls with frequency
    scale = np.full(n_mels * lfr_m, 0.3)
    dim = n_mels * lfr_m

    def row(values: np.ndarray) -> str:
        return "<LearnRateCoef> 0 [ " + " ".join(f"{v:.6f}" for v in values) + " ]\n"

    path.write_text(f"<Nnet>\n<Splice> {dim} {dim}\n[ 0 ]\n<AddShift> {dim} {dim}\n{row(shift)}"
                    f"<Rescale> {dim} {dim}\n{row(scale)}</Nnet>\n", encoding="utf-8")
