"""Suite-wide fixtures: the real recordings in ../shared/audio and the Whisper base model from PyPI.

Also the tiers (pyproject.toml's `markers`): every test gets exactly one of unit, room, browser,
slow, from an explicit mark (a module's `pytestmark` or a decorator) or else from the rules below,
so that `pytest -m unit` is the fast, machine-independent tier.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from support.recordings import SHARED_AUDIO

TIERS = ("unit", "room", "browser", "slow")
TESTS = Path(__file__).parent
# Fixtures that put a test in a tier, checked in this order (the first match wins).
BROWSER_FIXTURES = {"browser", "page"}  # Chromium through Playwright
ROOM_FIXTURES = {"pulse"}  # a private PulseAudio server: real audio devices
SLOW_FIXTURES = {"whisper_base_dir", "tiny_models"}  # a model built or loaded: seconds before the first assert
# Files whose tests run in real time against audio devices, rooms or daemon subprocesses.
ROOM_PATHS = ("audio_devices/", "dialogue/test_daemon_", "dialogue/test_dialogue_room.py",
              "api/test_dialogue_and_api.py")


def tier_of(item: pytest.Item) -> str:
    """The tier the rules give a test that names none itself."""
    fixtures = set(getattr(item, "fixturenames", ()))
    path = item.path.relative_to(TESTS).as_posix() if item.path.is_relative_to(TESTS) else ""
    if fixtures & BROWSER_FIXTURES:
        return "browser"
    if fixtures & ROOM_FIXTURES or path.startswith(ROOM_PATHS):
        return "room"
    if fixtures & SLOW_FIXTURES:
        return "slow"
    return "unit"


def pytest_configure(config):
    """What the product caches (optimised ONNX graphs) goes to a folder of this run's, never into the
    developer's home; subprocesses inherit it."""
    config.voiceloop_cache = tempfile.mkdtemp(prefix="voiceloop-test-cache-")
    os.environ["XDG_CACHE_HOME"] = config.voiceloop_cache


def pytest_unconfigure(config):
    shutil.rmtree(getattr(config, "voiceloop_cache", ""), ignore_errors=True)


def pytest_collection_modifyitems(config, items):
    for item in items:
        named = {mark.name for mark in item.iter_markers() if mark.name in TIERS}
        if len(named) > 1:
            raise pytest.UsageError(f"{item.nodeid}: more than one tier marked: {sorted(named)}")
        if not named:
            item.add_marker(tier_of(item))


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
def whisper(whisper_base_dir):
    """Whisper base as an engine: reads synthesised speech back, recognises long files in blocks."""
    from voiceloop.asr.whisper import WhisperEngine
    from voiceloop.config import AsrConfig, WhisperConfig

    return WhisperEngine(AsrConfig(engine="whisper", device="cpu", threads=2,
                                   whisper=WhisperConfig(model=str(whisper_base_dir))))


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
