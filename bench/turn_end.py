"""Can a turn-end model tell a finished Mandarin utterance from a pause mid-sentence?

    .venv/bin/python bench/turn_end.py [--model smart-turn-v3.2-cpu.onnx] [--cut-pause 1.0]

Smart Turn v3.2 (pipecat's, BSD-2-Clause: an int8 ONNX classifier over the last 8 s of 16 kHz
audio, Whisper-style log-mel features) is taken from the `pipecat-ai` 1.14.0 wheel, downloaded
once with pip from the package registry (nothing of pipecat is imported) and checked against its
SHA-256. Its features are faster-whisper's numpy log-mel extractor (a voiceloop dependency) on
the waveform normalised to zero mean and unit variance, which matches transformers'
`WhisperFeatureExtractor(chunk_length=8)` to 1e-5.

The decision points are where the dialogue would decide: every `SpeechPaused` of the endpointer
(`vad.speculate_ms` = 200 ms of silence) on each shared recording, whole and with a pause of
`--cut-pause` seconds spliced in at its quietest point mid-sentence (as the dialogue tests do).
A pause is "complete" when no speech follows it in the recording. Printed: the model's
probability at each point and, per threshold, how many complete ends it calls complete and how
many pauses mid-utterance it calls incomplete, with the lengths of the recordings' own pauses.
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from support.recordings import ZH, with_pause

from voiceloop.audio.decode import decode_file
from voiceloop.audio.endpoint import Endpointer
from voiceloop.audio.speech import SpeechPaused, SpeechStarted
from voiceloop.audio.vad import create_speech_detector
from voiceloop.config import VadConfig

WHEEL = "pipecat-ai==1.14.0"
MEMBER = "pipecat/audio/turn/smart_turn/data/smart-turn-v3.2-cpu.onnx"
SHA256 = "2bb026316b14a660486a75b1733cd3fbab8c2fd0314dc9af7be49f8cca967e4f"
CACHE = Path("/tmp/voiceloop-bench-models/smart-turn-v3.2-cpu.onnx")
WINDOW = 8 * 16000


def fetch_model(path: Path) -> Path:
    """The model file, taken out of the pipecat-ai wheel once; its hash is checked either way."""
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory() as tmp:
            subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", WHEEL, "-d", tmp], check=True)
            wheel = next(Path(tmp).glob("pipecat_ai-*.whl"))
            with zipfile.ZipFile(wheel) as zf:
                path.write_bytes(zf.read(MEMBER))
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != SHA256:
        raise SystemExit(f"{path}: SHA-256 {digest}, expected {SHA256}; delete it to fetch it again")
    return path


class SmartTurn:
    def __init__(self, path: Path):
        import onnxruntime as ort
        from faster_whisper.feature_extractor import FeatureExtractor

        options = ort.SessionOptions()
        options.intra_op_num_threads = options.inter_op_num_threads = 1
        self._session = ort.InferenceSession(str(path), sess_options=options)
        self._features = FeatureExtractor(feature_size=80, chunk_length=8)

    def probability(self, samples: np.ndarray) -> float:
        """P(the turn is complete) from the utterance so far (its last 8 s, zero-padded in front)."""
        x = samples[-WINDOW:] if len(samples) > WINDOW else np.pad(samples, (WINDOW - len(samples), 0))
        x = ((x - x.mean()) / np.sqrt(x.var() + 1e-7)).astype(np.float32)
        features = self._features(x, padding=0)[None, :, :800].astype(np.float32)
        return float(self._session.run(None, {"input_features": features})[0][0, 0])


def decision_points(samples: np.ndarray) -> list[tuple[float, float, float]]:
    """(start_t, end_t, pause length) of every SpeechPaused in `samples` (followed by 4 s of silence)."""
    detector = create_speech_detector(VadConfig())
    endpointer = Endpointer(VadConfig(speculate_ms=200, end_silence_ms=60000), detector.hangover_s,
                            detector.onset_lag_s)
    x = np.concatenate([samples, np.zeros(4 * 16000, np.float32)])
    paused, points = None, []
    for i in range(0, len(x) - 159, 160):
        for ev in endpointer.step(0.01, detector.probability(x[i:i + 160])):
            if isinstance(ev, SpeechPaused):
                paused = ev
            elif paused is not None and not isinstance(ev, SpeechStarted):  # resumed: the pause is over
                points.append((paused.start_t, paused.end_t, (i + 160) / 16000 - paused.end_t))
                paused = None
    if paused is not None:
        points.append((paused.start_t, paused.end_t, float("inf")))
    return points


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=CACHE)
    parser.add_argument("--cut-pause", type=float, default=1.0)
    args = parser.parse_args()
    model = SmartTurn(fetch_model(args.model))
    complete, incomplete, pauses = [], [], []
    for name in sorted(p.name for p in ZH.glob("*.wav")):
        clip = decode_file(ZH / name)
        for variant, samples in (("whole", clip), (f"cut {args.cut_pause:.1f} s", with_pause(clip, args.cut_pause))):
            for start_t, end_t, pause_s in decision_points(samples):
                final = pause_s == float("inf")
                if final and variant != "whole":
                    continue  # the same end as the whole recording's
                p = model.probability(samples[max(0, int((start_t - 0.3) * 16000)):int((end_t + 0.2) * 16000)])
                (complete if final else incomplete).append(p)
                if not final and variant == "whole":
                    pauses.append(pause_s)
                what = "end" if final else f"pause {pause_s:.2f} s"
                print(f"{name:<48} {variant:<10} at {end_t:5.2f} s  {what:<14} p(complete) {p:.2f}")
    print(f"\n{len(complete)} ends, {len(incomplete)} pauses mid-utterance; the recordings' own pauses of "
          f"200 ms or more: {len(pauses)}, median {np.median(pauses):.2f} s, p90 {np.percentile(pauses, 90):.2f} s")
    for threshold in (0.3, 0.5, 0.7, 0.9):
        hits = sum(p > threshold for p in complete)
        held = sum(p <= threshold for p in incomplete)
        print(f"threshold {threshold:.1f}: ends called complete {hits}/{len(complete)}, "
              f"pauses called incomplete {held}/{len(incomplete)}")


if __name__ == "__main__":
    main()
