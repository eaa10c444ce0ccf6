"""Suite-wide fixtures: the real recordings in ../shared/audio and the Whisper base model from PyPI."""

from __future__ import annotations

from pathlib import Path

import pytest

from support.recordings import SHARED_AUDIO


@pytest.fixture(scope="session")
def zh_audio() -> Path:
    folder = SHARED_AUDIO / "zh"
    assert (folder / "manifest.tsv").is_file(), f"real recordings missing: {folder} (shared/ beside the repo)"
    return folder


@pytest.fixture(scope="session")
def whisper_base_dir(tmp_path_factory) -> Path:
    """Whisper base (CTranslate2) as shipped in two PyPI packages, joined into one model dir."""
    from support.models_pypi import assemble_whisper_base

    return assemble_whisper_base(tmp_path_factory.mktemp("whisper-base"))


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory):
    """Tiny random-weight SeACo-Paraformer, Paraformer, FSMN-VAD and CT-punctuation model dirs."""
    from support.funasr_models import build_tiny_models

    return build_tiny_models(tmp_path_factory.mktemp("funasr-models"))


@pytest.fixture(scope="module")
def pulse(tmp_path_factory):
    """A private PulseAudio server with null sinks (speaker, micsink), PortAudio pointed at it."""
    import os

    from support.pulse import pulse_server

    saved = os.environ.get("PULSE_SERVER")
    with pulse_server(tmp_path_factory.mktemp("pulse")) as server:
        server.activate()
        yield server
    if saved is None:
        os.environ.pop("PULSE_SERVER", None)
    else:
        os.environ["PULSE_SERVER"] = saved
