"""Where the ONNX engine's time goes: Python stages (cProfile) and the ASR graph's parts (onnxruntime profiler).

    .venv/bin/python bench/asr_profile.py [--seconds 5] [--fp32] [--timestamps] [--batch] [--models DIR]

Uses the Paraformer-large shaped models that bench/asr_throughput.py builds and exports. The
engine call is the dialogue's (text only) unless --timestamps; --batch profiles the batch engine
(segments two at a time: the stage times are then summed over threads). The graph profile runs the
ASR graph alone on the first segment's features, with the gates the engine would close.
"""

from __future__ import annotations

import argparse
import collections
import cProfile
import json
import pstats
import sys
import tempfile
from pathlib import Path

import numpy as np


STAGES = {  # label: (file suffix, function) whose cumulative time is reported
    "fbank (kaldi-native-fbank)": ("onnx/front.py", "fbank"),
    "LFR + CMVN": ("onnx/front.py", "lfr_cmvn"),
    "VAD network (FSMN)": ("onnx/vad.py", "_silence_probs"),
    "VAD decisions": ("onnx/vad.py", "chunk"),
    "ASR graph + decoding": ("onnx/paraformer.py", "recognise"),
    "token times": ("onnx/paraformer.py", "token_times"),
    "punctuation": ("onnx/punc.py", "punctuate"),
}


def python_stages(engine, audio, timestamps: bool) -> None:
    engine.transcribe(audio, timestamps=timestamps)
    profile = cProfile.Profile()
    profile.enable()
    result = engine.transcribe(audio, timestamps=timestamps)
    profile.disable()
    stats = pstats.Stats(profile).stats
    total = result.processing_s * 1000
    print(f"\nengine.transcribe: {total:.1f} ms wall for {audio.size / 16000:.0f} s ({audio.size / 16000 / total * 1000:.1f}x)")
    for label, (suffix, name) in STAGES.items():
        cum = sum(v[3] for (path, _, func), v in stats.items() if path.endswith(suffix) and func == name) * 1000
        print(f"  {label:<28} {cum:8.1f} ms {100 * cum / total:5.1f} %")


def loop_body_nodes(path: Path) -> set[str]:
    """Names of the nodes inside Loop bodies: the profiler reports them and their Loop (whose time
    includes them); If branches are the other way round (the gate's time includes its nodes)."""
    import onnx

    names: set[str] = set()

    def walk(graph, inside: bool) -> None:
        for node in graph.node:
            if inside:
                names.add(node.name)
            for attr in node.attribute:
                if attr.type == onnx.AttributeProto.GRAPH:
                    walk(attr.g, inside or node.op_type == "Loop")

    walk(onnx.load(str(path), load_external_data=False).graph, False)
    return names


def graph_parts(model_dir: Path, quantize: bool, audio, timestamps: bool) -> None:
    import onnxruntime as ort

    from voiceloop.asr.onnx.paraformer import OnnxParaformer

    asr = OnnxParaformer(model_dir, quantize, 2)
    feats = asr.front.features(audio)
    path = model_dir / ("model_quant.onnx" if quantize else "model.onnx")
    opts = ort.SessionOptions()
    opts.intra_op_num_threads, opts.inter_op_num_threads, opts.log_severity_level = 2, 1, 3
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.enable_profiling = True
    opts.profile_file_prefix = str(Path(tempfile.gettempdir()) / "asr-profile")
    session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    known = {i.name for i in [*session.get_inputs(), *session.get_overridable_initializers()]}
    dim = session.get_inputs()[2].shape[2]
    feed = {"speech": feats[None], "speech_lengths": np.array([feats.shape[0]], np.int32),
            "bias_embed": np.zeros((1, 1, dim), np.float32)}
    closed = ["cif_peaks", "hotwords"] + ([] if timestamps else ["timestamps"])
    feed |= {flag: np.array(False) for flag in closed if flag in known}
    runs = 3
    for _ in range(runs + 1):
        session.run(None, feed)
    events = json.loads(Path(session.end_profiling()).read_text())
    starts = [e["ts"] for e in events if e.get("name") == "model_run"]
    nodes = [e for e in events if e.get("cat") == "Node" and e["name"].endswith("_kernel_time") and e["ts"] >= starts[1]]
    inner = loop_body_nodes(path)
    parts: collections.Counter = collections.Counter()
    others: collections.Counter = collections.Counter()
    for e in nodes:
        name = e["name"].removesuffix("_kernel_time")
        if name in inner or name.startswith("gate_"):  # counted in their Loop / by their own entries
            continue
        head = name.strip("/").split("/")[0]
        head = head if head in ("encoder", "decoder", "seaco_decoder", "predictor", "blstm", "upsample_cnn") else (
            "CIF loops (ONNX Loop)" if e["args"].get("op_name") == "Loop" else "other")
        parts[head] += e["dur"] / runs / 1000
        if head == "other":
            others[e["name"]] += e["dur"] / runs / 1000
    total = sum(parts.values())
    print(f"\nASR graph ({path.name}, {feats.shape[0]} LFR frames, closed gates: {', '.join(closed) or 'none'}), "
          f"onnxruntime profiler: {total:.1f} ms per run (profiling adds overhead)")
    for part, ms in parts.most_common():
        print(f"  {part:<28} {ms:8.1f} ms {100 * ms / total:5.1f} %")
    print("  largest in other:", ", ".join(f"{n.removesuffix('_kernel_time')} {ms:.1f}" for n, ms in others.most_common(4)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=Path, default=Path("/tmp/voiceloop-bench-models"))
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--fp32", action="store_true")
    parser.add_argument("--timestamps", action="store_true")
    parser.add_argument("--batch", action="store_true")
    args = parser.parse_args()
    from asr_throughput import ensure_models, speech

    from voiceloop.asr import create_engine
    from voiceloop.config import AsrConfig

    ensure_models(args.models)
    m = args.models
    cfg = AsrConfig(model=str(m / "seaco"), vad_model=str(m / "vad"), punc_model=str(m / "punc"), backend="onnx",
                    quantize=not args.fp32, threads=2)
    audio = speech(args.seconds)
    python_stages(create_engine(cfg, batch=args.batch), audio, args.timestamps)
    graph_parts(m / "seaco", not args.fp32, speech(min(args.seconds, 10)), args.timestamps)
    return 0


if __name__ == "__main__":
    sys.exit(main())
