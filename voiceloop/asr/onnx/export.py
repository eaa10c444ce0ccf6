"""`voiceloop export-onnx`: FunASR model dirs -> ONNX files with FunASR runtime's names, in place.

Runs once, with torch and funasr (the only part of the ONNX path that needs them). Each model is
loaded by funasr, rebuilt by funasr's own `export()` (its *Export encoder/predictor/decoder
classes), and written with torch's legacy TorchScript exporter: torch 2.13's default dynamo
exporter fails on the CIF predictor's loop. Files are written to a temporary name and renamed, so
a dir never holds half an export.

SeACo-Paraformer gets its own backbone forward (below) rather than funasr's, for three reasons:
funasr's hard-codes the no-hotword token id 8377 and a 512-wide bias embedding (the released
model's, wrong for any other shape); its hotword pre-filter (ASF) needs exactly six SeACo decoder
layers; and it has no way to answer without hotwords exactly as torch does (torch skips the
hotword decoder then). Ours returns funasr's four outputs plus `decoder_logits`, the plain
decoder's log-probabilities, used when a call has no hotwords.
"""

from __future__ import annotations

import logging
import os
import types
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from voiceloop.asr.models import configured_models, resolve_model
from voiceloop.asr.onnx.gates import GRAPH_VERSION, add_gates, graph_version, remove_gates
from voiceloop.asr.onnx.session import read_model_config
from voiceloop.config import AsrConfig
from voiceloop.errors import ModelNotFoundError, VoiceloopError

log = logging.getLogger(__name__)

OPSET = 14
EXPORTABLE = frozenset({"SeacoParaformer", "Paraformer", "BiCifParaformer", "FsmnVADStreaming", "CTTransformer"})


class ExportError(VoiceloopError):
    """A model dir that cannot be exported to ONNX; the message names the dir and why."""

    exit_code = 2


@dataclass(frozen=True, slots=True)
class Exported:
    model_dir: Path
    model_class: str
    files: tuple[Path, ...]


def export_configured(cfg: AsrConfig, quantize: bool) -> list[Exported]:
    """Export every configured Paraformer/VAD/punctuation model (hub names resolved, downloaded if needed)."""
    if cfg.engine != "paraformer":
        raise ExportError(f"asr.engine is {cfg.engine}: export-onnx applies to the paraformer engine's models "
                          f"(asr.model, asr.vad_model, asr.punc_model). Fix: set asr.engine to paraformer.")
    dirs = [resolve_model(name, role, cfg.cache_dir) for role, name in configured_models(cfg)]
    return [export_dir(d, quantize) for d in dirs]


def export_dir(model_dir: Path, quantize: bool) -> Exported:
    """Export one FunASR model dir (config.yaml + model.pt) into `model_dir/model.onnx` etc.

    A dir whose ONNX files are newer than its model.pt, or that holds only ONNX files (FunASR's
    published -onnx dirs), is not exported again; `quantize` adds the int8 files it lacks.
    """
    model_dir = Path(model_dir)
    if not os.access(model_dir, os.W_OK):
        raise ExportError(f"{model_dir}: cannot write the ONNX files into this dir (no write permission). Fix: "
                          f"copy the model dir somewhere writable and point the config key at the copy.")
    conf = _read_config(model_dir)
    if _up_to_date(model_dir, str(conf.get("model", ""))):
        return _quantize_existing(model_dir, str(conf.get("model", "")), quantize)
    name = str(conf.get("model", ""))
    if name not in EXPORTABLE:
        raise ExportError(f"{model_dir}: model class {name or '(none)'} cannot be exported to ONNX by voiceloop "
                          f"(supported: {', '.join(sorted(EXPORTABLE))}). Fix: point the key at one of those, "
                          f"or at a dir that already holds FunASR's model.onnx.")
    if not (model_dir / "model.pt").is_file():
        raise ExportError(f"{model_dir}: no model.pt to export. Fix: download the complete -pytorch model dir "
                          f"(scripts/fetch-models) or use FunASR's published -onnx dir as it is.")
    auto = _load(model_dir)
    import torch

    with torch.no_grad():
        graphs = _rebuild(auto, name)
        written = []
        for module, filename in graphs:
            target = model_dir / filename
            _torch_export(module, target)
            written.append(target)
            if quantize:
                written.append(quantize_file(target))
            add_gates_to_file(target)
    return Exported(model_dir, name, tuple(written))


def _up_to_date(model_dir: Path, name: str) -> bool:
    graphs = [model_dir / "model.onnx"] + ([model_dir / "model_eb.onnx"] if name == "SeacoParaformer" else [])
    if not all(g.is_file() for g in graphs):
        return False
    checkpoint = model_dir / "model.pt"
    return not checkpoint.is_file() or min(g.stat().st_mtime for g in graphs) >= checkpoint.stat().st_mtime


def _quantize_existing(model_dir: Path, name: str, quantize: bool) -> Exported:
    """Add the int8 files a dir lacks, and bring graphs written by an older voiceloop (or FunASR) up
    to `GRAPH_VERSION`: gates added, int8 files quantized again from fp32 (LSTM weights int8 too)."""
    written = []
    for stem in ("model", "model_eb"):
        source, target = model_dir / f"{stem}.onnx", model_dir / f"{stem}_quant.onnx"
        if source.is_file() and _version(source) != GRAPH_VERSION:
            written.append(add_gates_to_file(source))
        if target.is_file() and _version(target) == GRAPH_VERSION:
            continue
        if source.is_file() and (quantize or target.is_file()):
            written.append(quantize_file(source))
        elif target.is_file():
            written.append(add_gates_to_file(target))
    return Exported(model_dir, name, tuple(written))


def _version(path: Path) -> str:
    import onnx

    return graph_version(onnx.load(str(path), load_external_data=False))


def add_gates_to_file(path: Path) -> Path:
    """Gate a graph (`onnx_graph.add_gates`) and mark it with this GRAPH_VERSION, in place."""
    import onnx

    _save(add_gates(onnx.load(str(path))), path)
    return path


def _save(model, path: Path) -> None:
    import onnx

    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        onnx.save(model, str(tmp))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def quantize_file(source: Path) -> Path:
    """Dynamic int8 quantization of the MatMul and LSTM weights: `x.onnx` -> gated `x_quant.onnx`.

    FunASR quantizes MatMul only, leaving the timestamp predictor's LSTM fp32: it was 22 % of the
    int8 graph's time for a 5 s utterance, 18 % less with int8 weights (token times change by
    < 0.1 ms here). Output layers and the hotword (bias) encoder stay fp32: they are small and the
    most sensitive. The quantizer leaves `If` branches alone, so it works on the ungated graph and
    the gates are added to its result.
    Weights are signed int8 (FunASR uses unsigned): onnxruntime's u8s8 kernels are its fast path,
    0.45 s instead of 0.79 s of CPU for 10 s of speech on Paraformer-large here (AVX-512 VNNI).
    """
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    target = source.with_name(source.stem + "_quant.onnx")
    flat = remove_gates(onnx.load(str(source)))
    exclude = [n.name for n in flat.graph.node if "output" in n.name or "bias_encoder" in n.name
               or "bias_decoder" in n.name]
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    root = logging.getLogger()
    level = root.level
    root.setLevel(max(level, logging.ERROR))  # onnxruntime.quantization logs every tensor, and a hint
    try:
        quantize_dynamic(model_input=flat, model_output=str(tmp), op_types_to_quantize=["MatMul", "LSTM"],
                         per_channel=True, reduce_range=False, weight_type=QuantType.QInt8,
                         nodes_to_exclude=exclude)
        _save(add_gates(onnx.load(str(tmp))), target)
    finally:
        root.setLevel(level)
        tmp.unlink(missing_ok=True)
    return target


def _read_config(model_dir: Path) -> dict[str, Any]:
    if not (model_dir / "config.yaml").is_file():
        raise ExportError(f"{model_dir}: no config.yaml, so this is not a FunASR model dir. Fix: point the key at "
                          f"a complete model dir (scripts/fetch-models downloads one).")
    try:
        return read_model_config(model_dir)
    except ModelNotFoundError as exc:
        raise ExportError(str(exc)) from exc


def _load(model_dir: Path):
    from voiceloop.asr.funasr_shim import import_funasr, stdout_to_debug
    from voiceloop.logs import preserve_root_logger

    auto_model = import_funasr()
    try:
        with preserve_root_logger(), stdout_to_debug():
            return auto_model(model=str(model_dir), device="cpu", disable_update=True, disable_pbar=True,
                              log_level="ERROR")
    except Exception as exc:  # noqa: BLE001 - funasr raises anything for a broken dir
        raise ExportError(f"{model_dir}: funasr cannot load this model ({type(exc).__name__}: {exc}). "
                          f"Fix: download the model dir again (scripts/fetch-models).") from exc


def _rebuild(auto, name: str) -> list[tuple[Any, str]]:
    """(module with export_* methods, file name) for each graph of the model."""
    kwargs = {**auto.kwargs, "type": "onnx", "device": "cpu", "max_seq_len": 512}
    kwargs.pop("model", None)
    model = auto.model.eval()
    if name == "SeacoParaformer":
        backbone, embedder = model.export(**kwargs)
        front = auto.kwargs.get("frontend_conf") or {}
        _patch_seaco(backbone, model, int(front.get("n_mels", 80)) * int(front.get("lfr_m", 7)))
        embedder.export_input_names = lambda: ["hotword"]
        embedder.export_output_names = lambda: ["hw_embed"]
        embedder.export_dynamic_axes = lambda: {"hotword": {0: "num_hotwords", 1: "hotword_length"},
                                                "hw_embed": {0: "hotword_length", 1: "num_hotwords"}}
        return [(backbone, "model.onnx"), (embedder, "model_eb.onnx")]
    exported = model.export(**kwargs)
    if name == "FsmnVADStreaming":
        exported.export_dynamic_axes = lambda: {"speech": {0: "batch_size", 1: "feats_length"},
                                                "logits": {0: "batch_size", 1: "feats_length"}}
    return [(exported, "model.onnx")]


def _patch_seaco(backbone, model, feats: int) -> None:
    import torch

    backbone.NOBIAS = int(model.NO_BIAS)
    backbone.forward = types.MethodType(_seaco_forward, backbone)
    inner = int(model.inner_dim)
    backbone.export_dummy_inputs = lambda: (torch.randn(2, 30, feats), torch.tensor([15, 30], dtype=torch.int32),
                                            torch.randn(2, 3, inner))
    backbone.export_output_names = lambda: ["logits", "token_num", "us_alphas", "us_cif_peak", "decoder_logits"]
    backbone.export_dynamic_axes = lambda: {
        "speech": {0: "batch_size", 1: "feats_length"}, "speech_lengths": {0: "batch_size"},
        "bias_embed": {0: "batch_size", 1: "num_hotwords"}, "logits": {0: "batch_size", 1: "logits_length"},
        "token_num": {0: "batch_size"}, "us_alphas": {0: "batch_size", 1: "alphas_length"},
        "us_cif_peak": {0: "batch_size", 1: "alphas_length"},
        "decoder_logits": {0: "batch_size", 1: "logits_length"}}


def _seaco_forward(self, speech, speech_lengths, bias_embed):
    """SeACo inference as `SeacoParaformer.inference` does it for <= 50 hotwords (no ASF filter).

    Adapted from funasr's `export_backbone_forward` (MIT, FunASR authors).
    """
    import torch

    enc, enc_len = self.encoder(speech, speech_lengths)
    mask = self.make_pad_mask(enc_len)[:, None, :]
    acoustic, token_num, _, _ = self.predictor(enc, mask)
    token_num = token_num.floor().type(torch.int32)
    decoder_out, decoder_hidden, _ = self.decoder(enc, enc_len, acoustic, token_num, return_hidden=True,
                                                  return_both=True)
    decoder_out = torch.log_softmax(decoder_out, dim=-1)
    batch, hotwords, _ = bias_embed.shape
    context_len = (torch.ones(batch) * hotwords).type(torch.int32)
    cif_attended, _ = self.seaco_decoder(bias_embed, context_len, acoustic, token_num)
    dec_attended, _ = self.seaco_decoder(bias_embed, context_len, decoder_hidden, token_num)
    dha_pred = torch.log_softmax(self.hotword_output_layer(cif_attended + dec_attended), dim=-1)
    keep_decoder = (dha_pred.max(-1)[-1] == self.NOBIAS).int().unsqueeze(-1)
    logits = decoder_out * keep_decoder + dha_pred * (1 - keep_decoder)
    us_alphas, us_cif_peak = self.predictor.get_upsample_timestmap(enc, mask, token_num)
    return logits, token_num, us_alphas, us_cif_peak, decoder_out


def _torch_export(module, target: Path) -> None:
    import torch

    module.eval()
    dummy = module.export_dummy_inputs()
    dummy = dummy if isinstance(dummy, tuple) else (dummy,)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the tracer warns about every shape it freezes
            torch.onnx.export(module, dummy, str(tmp), dynamo=False, do_constant_folding=True, opset_version=OPSET,
                              input_names=module.export_input_names(), output_names=module.export_output_names(),
                              dynamic_axes=module.export_dynamic_axes())
        os.replace(tmp, target)
    except Exception as exc:
        raise ExportError(f"{target.parent}: torch.onnx.export failed for {target.name} "
                          f"({type(exc).__name__}: {exc})") from exc
    finally:
        tmp.unlink(missing_ok=True)
    log.debug("wrote %s", target)
