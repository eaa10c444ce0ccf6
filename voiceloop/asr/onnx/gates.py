"""Make the parts of an exported Paraformer graph that a call may not need optional: `If` gates.

onnxruntime runs every node of a graph whatever outputs are asked for. Two parts of SeACo-
Paraformer's graph are often not needed, and together they are ~40 % of its time:

- the timestamp predictor (upsampling CNN, an LSTM over 3x the frames, and a CIF loop run by
  ONNX `Loop`, one iteration per upsampled frame): only subtitles and sentence times need it,
  never the dialogue or a plain-text transcript;
- the SeACo hotword decoder: without hotwords its answer is thrown away (`decoder_logits` is used).

`gate` moves the nodes that feed only such outputs into the then-branch of an `If` on a new boolean
graph input. The input has an initializer that defaults it to true, so a caller that does not know
the flag (FunASR's runtime) gets every output as before. The CIF peak loop gets its own gate: our
runtime integrates the peaks in numpy, the same float32 sums ~100x faster than ONNX `Loop`.
"""

from __future__ import annotations

import onnx
from onnx import TensorProto, helper

from voiceloop.asr.onnx.session import CIF_PEAKS, HOTWORDS, TIMESTAMPS

GRAPH_VERSION = "2"  # metadata `voiceloop_graph`; 2: gates below, LSTM weights int8 in _quant files
VERSION_KEY = "voiceloop_graph"


def add_gates(model: onnx.ModelProto) -> onnx.ModelProto:
    """Gate a (SeACo-)Paraformer graph in place; outputs it lacks are left alone. Idempotent."""
    outputs = {o.name for o in model.graph.output}
    inputs = {i.name for i in model.graph.input}
    if "us_cif_peak" in outputs and CIF_PEAKS not in inputs:
        gate(model.graph, ["us_cif_peak"], CIF_PEAKS, {})
    if {"us_alphas", "us_cif_peak"} <= outputs and TIMESTAMPS not in inputs:
        gate(model.graph, ["us_alphas", "us_cif_peak"], TIMESTAMPS, {})
    if {"logits", "decoder_logits"} <= outputs and HOTWORDS not in inputs:
        gate(model.graph, ["logits"], HOTWORDS, {"logits": "decoder_logits"})
    set_version(model)
    return model


def remove_gates(model: onnx.ModelProto) -> onnx.ModelProto:
    """Undo `add_gates` in place (onnxruntime's quantizer does not quantize inside `If` branches)."""
    graph = model.graph
    flags = {TIMESTAMPS, CIF_PEAKS, HOTWORDS}
    while gates := [i for i, n in enumerate(graph.node) if n.op_type == "If" and n.input[0] in flags]:
        i = gates[0]
        switch = graph.node[i]
        then_branch = next(a.g for a in switch.attribute if a.name == "then_branch")
        inner = list(then_branch.node)
        renames = {f"{t}__{switch.input[0]}": t for t in switch.output}
        for node in inner:
            _rename(node, renames)
        nodes = [*graph.node[:i], *inner, *graph.node[i + 1:]]
        del graph.node[:]
        graph.node.extend(nodes)
        graph.value_info.extend(then_branch.value_info)
    for field in (graph.input, graph.initializer):
        kept = [x for x in field if x.name not in flags]
        del field[:]
        field.extend(kept)
    return model


def set_version(model: onnx.ModelProto) -> None:
    helper.set_model_props(model, {**{p.key: p.value for p in model.metadata_props}, VERSION_KEY: GRAPH_VERSION})


def graph_version(model: onnx.ModelProto) -> str:
    return next((p.value for p in model.metadata_props if p.key == VERSION_KEY), "1")


def gate(graph: onnx.GraphProto, targets: list[str], flag: str, otherwise: dict[str, str]) -> None:
    """Compute `targets` only when the boolean input `flag` is true (its default).

    When false each target is the tensor named in `otherwise`, or an empty (1, 0) float tensor.
    Only nodes that no other graph output depends on move into the branch.
    """
    producer = {out: i for i, node in enumerate(graph.node) for out in node.output}
    others = [o.name for o in graph.output if o.name not in targets] + list(otherwise.values())
    needed = _ancestors(graph, producer, others)
    moved = sorted(_ancestors(graph, producer, targets) - needed)
    if not moved:
        raise ValueError(f"nothing computes only {targets}")
    then_nodes = [graph.node[i] for i in moved]
    renames = {t: f"{t}__{flag}" for t in targets}
    ranks = {t: _rank(graph, t) for t in targets}
    for node in then_nodes:
        _rename(node, renames)
    inner = {o for node in then_nodes for o in node.output}
    infos = [v for v in graph.value_info if v.name in inner]
    kept_infos = [v for v in graph.value_info if v.name not in inner]
    del graph.value_info[:]
    graph.value_info.extend(kept_infos)
    then_branch = helper.make_graph(then_nodes, f"{flag}_then", [], [_float(renames[t], ranks[t]) for t in targets],
                                    value_info=infos)
    else_nodes, else_outputs = [], []
    for t in targets:
        name = f"{t}__no_{flag}"
        if t in otherwise:
            else_nodes.append(helper.make_node("Identity", [otherwise[t]], [name]))
        else:
            shape = [1] + [0] * (ranks[t] - 1)
            empty = helper.make_tensor(f"{name}_value", TensorProto.FLOAT, shape, [])
            else_nodes.append(helper.make_node("Constant", [], [name], value=empty))
        else_outputs.append(_float(name, ranks[t]))
    else_branch = helper.make_graph(else_nodes, f"{flag}_else", [], else_outputs)
    switch = helper.make_node("If", [flag], list(targets), name=f"gate_{flag}", then_branch=then_branch,
                              else_branch=else_branch)
    kept = [n for i, n in enumerate(graph.node) if i not in set(moved)]
    position = sum(1 for i in range(len(graph.node)) if i not in set(moved) and i < moved[-1])
    kept.insert(position, switch)
    del graph.node[:]
    graph.node.extend(kept)
    graph.input.append(helper.make_tensor_value_info(flag, TensorProto.BOOL, []))
    graph.initializer.append(helper.make_tensor(flag, TensorProto.BOOL, [], [True]))


def _ancestors(graph: onnx.GraphProto, producer: dict[str, int], names: list[str]) -> set[int]:
    found: set[int] = set()
    todo = [producer[n] for n in names if n in producer]
    while todo:
        i = todo.pop()
        if i in found:
            continue
        found.add(i)
        todo += [producer[n] for n in _used(graph.node[i]) if n in producer]
    return found


def _used(node: onnx.NodeProto) -> set[str]:
    """The node's inputs, plus the outer-scope names its subgraphs (Loop/If bodies) read."""
    names = {n for n in node.input if n}
    for attr in node.attribute:
        for sub in ([attr.g] if attr.type == onnx.AttributeProto.GRAPH else list(attr.graphs)):
            local = {i.name for i in sub.input} | {i.name for i in sub.initializer}
            local |= {o for n in sub.node for o in n.output}
            names |= {n for inner in sub.node for n in _used(inner) if n not in local}
    return names


def _rename(node: onnx.NodeProto, renames: dict[str, str]) -> None:
    for seq in (node.input, node.output):
        for k, name in enumerate(seq):
            if name in renames:
                seq[k] = renames[name]
    for attr in node.attribute:
        for sub in ([attr.g] if attr.type == onnx.AttributeProto.GRAPH else list(attr.graphs)):
            for inner in sub.node:
                _rename(inner, renames)


def _rank(graph: onnx.GraphProto, name: str) -> int:
    for info in [*graph.output, *graph.value_info]:
        if info.name == name and info.type.tensor_type.HasField("shape"):
            return len(info.type.tensor_type.shape.dim)
    raise ValueError(f"{name}: rank unknown")


def _float(name: str, rank: int) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, [None] * rank)
