"""FunASR fixtures: tiny random-weight model dirs (built once per session) and real recordings."""

from __future__ import annotations

import numpy as np
import pytest

from support.onnx_models import export_copies
from support.recordings import ZH as ZH_AUDIO
from voiceloop.audio.decode import decode_file


@pytest.fixture(scope="session")
def speech() -> np.ndarray:
    """A real 13 s Mandarin recording, 16 kHz mono float32."""
    return decode_file(ZH_AUDIO / "funasr_csharp_1.wav")


@pytest.fixture(scope="session")
def long_speech() -> np.ndarray:
    """60 s of real speech: every recording in turn, 1 s of silence between, repeated and cut."""
    gap = np.zeros(16000, np.float32)
    clips = [decode_file(p) for p in sorted(ZH_AUDIO.glob("*.wav"))]
    one_pass = np.concatenate([part for clip in clips for part in (clip, gap)])
    return np.tile(one_pass, int(np.ceil(60 * 16000 / one_pass.size)))[: 60 * 16000]


@pytest.fixture(scope="session")
def exported(tiny_models, tmp_path_factory):
    """Copies of the tiny model dirs, exported (fp32 + int8) by `voiceloop export-onnx --quantize`."""
    return export_copies(tiny_models, tmp_path_factory.mktemp("onnx-models"))
