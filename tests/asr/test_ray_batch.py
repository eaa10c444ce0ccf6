"""`voiceloop transcribe --ray` on a real local Ray instance (2 CPUs): the same outputs as the
single-process path, a bad file failing alone, a long file cut into blocks and joined, `--resume`.

The engine is the ONNX path on the tiny random-weight models (exported by the real command line):
their text is nonsense, but it is deterministic, so two runs that cut and join the audio the same
way write the same files.
"""

from __future__ import annotations

import json
import shutil
import wave
from pathlib import Path

import numpy as np
import pytest

from support.cli import run_voiceloop
from voiceloop.audio.blocks import BLOCK_S
from voiceloop.audio.decode import decode_file

pytestmark = pytest.mark.slow

TIMING = ("processing_s", "real_time_factor")  # wall-clock measurements, the only fields that may differ


def _write_wav(path: Path, samples: np.ndarray) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes((np.clip(samples, -1, 1) * 32767).astype(np.int16).tobytes())


@pytest.fixture(scope="module")
def archive(zh_audio, tmp_path_factory) -> Path:
    """Four real recordings (one in a subfolder), one longer than a block, and a file that is not audio."""
    folder = tmp_path_factory.mktemp("archive")
    names = ("funasr_asr_example.wav", "aishell1_BAC009S0724W0121.wav", "wenet_nst_ID002.wav")
    for name in names:
        shutil.copy(zh_audio / name, folder / name)
    (folder / "day2").mkdir()
    shutil.copy(zh_audio / "uberi_chinese.wav", folder / "day2" / "uberi_chinese.wav")
    gap = np.zeros(8000, np.float32)
    speech = np.concatenate([part for name in names for part in (decode_file(zh_audio / name), gap)])
    _write_wav(folder / "long.wav", np.tile(speech, int(np.ceil((BLOCK_S + 40) * 16000 / speech.size))))
    (folder / "notes.wav").write_bytes(b"these are not samples\n" * 100)
    return folder


def _outputs(folder: Path) -> dict[str, object]:
    found: dict[str, object] = {}
    for path in sorted(folder.iterdir()):
        if path.suffix == ".json":
            doc = json.loads(path.read_text())
            found[path.name] = {k: v for k, v in doc.items() if k not in TIMING}
        else:
            found[path.name] = path.read_text()
    return found


def test_ray_writes_what_one_process_writes_and_resumes(exported, archive, tmp_path):
    dirs, _, _ = exported
    config = tmp_path / "voiceloop.yaml"
    config.write_text(f"asr:\n  backend: onnx\n  model: {dirs['seaco']}\n  vad_model: {dirs['vad']}\n"
                      f"  punc_model: {dirs['punc']}\n")
    common = ("transcribe", "--config", str(config), "--format", "txt,srt,json", str(archive))
    alone = run_voiceloop(*common, "--output-dir", str(tmp_path / "alone"))
    # `--ray` right before the folder: the folder is an input, not a cluster address
    on_ray = run_voiceloop(*common[:-1], "--output-dir", str(tmp_path / "ray"), "--ray", str(archive))

    for proc in (alone, on_ray):
        assert proc.returncode == 1, proc.stderr  # one bad file
        assert "notes.wav: not a recognised audio file" in proc.stderr
        assert "1 of 6 file(s) failed" in proc.stderr
    assert "ray: 6 of 6 file(s) done (1 failed)" in on_ray.stderr
    assert "decoding tasks also run the VAD and features" in on_ray.stderr  # the actors run the networks only
    written = _outputs(tmp_path / "ray")
    assert len(written) == 15 and written == _outputs(tmp_path / "alone")
    long_json = written["long.json"]
    assert long_json["duration_s"] > BLOCK_S and long_json["sentences"][-1]["end_ms"] > BLOCK_S * 1000
    assert long_json["sentences"][0]["start_ms"] < 10_000  # the blocks' sentences on the whole file's clock

    kept = tmp_path / "ray" / "funasr_asr_example.txt"
    before = kept.stat().st_mtime_ns
    (tmp_path / "ray" / "uberi_chinese.srt").unlink()
    again = run_voiceloop(*common[:-1], "--output-dir", str(tmp_path / "ray"), "--resume", "--ray", "",
                          str(archive))
    assert again.returncode == 1, again.stderr
    assert "skipped 4 file(s) whose outputs exist" in again.stderr
    assert "ray: 2 of 2 file(s) done (1 failed)" in again.stderr  # uberi_chinese and the bad file, again
    assert _outputs(tmp_path / "ray") == written
    assert kept.stat().st_mtime_ns == before


def test_ray_without_ray_data_says_how_to_install(tmp_path, zh_audio):
    blocker = tmp_path / "blocker"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text(
        "import importlib.abc, sys\n"
        "class Hide(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('ray', 'pyarrow'):\n"
        "            raise ModuleNotFoundError(name)\n"
        "sys.meta_path.insert(0, Hide())\n")
    proc = run_voiceloop("transcribe", "--ray", str(zh_audio / "uberi_chinese.wav"),
                         env_extra={"PYTHONPATH": str(blocker)})
    assert proc.returncode == 2
    assert "pip install 'voiceloop[ray]'" in proc.stderr


def test_ray_names_a_missing_model_before_starting(tmp_path, zh_audio):
    config = tmp_path / "voiceloop.yaml"
    config.write_text(f"asr:\n  backend: onnx\n  model: {tmp_path / 'nowhere'}\n")
    proc = run_voiceloop("transcribe", "--config", str(config), str(zh_audio / "uberi_chinese.wav"), "--ray")
    assert proc.returncode == 2, proc.stderr
    assert f"asr.model: model dir {tmp_path / 'nowhere'} does not exist" in proc.stderr
    assert "ray: " not in proc.stderr  # no cluster was started for a job that cannot run
