"""Dynamic batching (`voiceloop.engines.batcher`): concurrent requests' segments go to the engine as one
`transcribe_many` call, as on a GPU box serving a fleet of desk boxes. CI has no GPU, so the real
torch engine packs them on the CPU (same code); every client still gets its own transcript, and a
batch that fails costs no request."""

from __future__ import annotations

import logging
import re
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import pytest
from api.conftest import with_api
from support.api_server import running_api
from support.audiofiles import write_audio
from support.cer import edit_distance
from support.gpu_faults import OutOfMemoryInBatches
from support.recordings import ZH

from voiceloop.audio.decode import decode_file
from voiceloop.engines import Engines
from voiceloop.engines.batcher import SegmentBatcher
from voiceloop.engines.hotwords import HotwordStore
from voiceloop.engines.scheduler import EngineScheduler
from voiceloop.engines.servicejobs import DecodePool
from voiceloop.tts.fallback import create_synthesizer

CLIP_S = 3.0  # under the API's segment limit: each upload is one segment, all of one length (no padding)


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> list[tuple[np.ndarray, object]]:
    """Six different 3 s stretches of real speech, as samples and as uploaded files."""
    folder = tmp_path_factory.mktemp("batching")
    out = []
    for k, path in enumerate(sorted(ZH.glob("*.wav"))[:6]):
        samples = decode_file(path)[: int(CLIP_S * 16000)]
        out.append((samples, write_audio(folder / f"c{k}.wav", samples, 16000)))
    return out


def _engines(cfg, asr, wait_s: float = 0.3) -> Engines:
    jobs = EngineScheduler("asr", max_waiting=16)
    return Engines(asr, jobs, create_synthesizer(cfg.tts), HotwordStore(cfg.asr.hotwords_file),
                   DecodePool(cfg.api.decode_workers, cfg.api.max_transcriptions),
                   batcher=SegmentBatcher(asr, jobs, batch_seconds=60, wait_s=wait_s))


def _post_all(url: str, clips, hotwords: list[str]) -> list[str]:
    def post(k: int) -> str:
        with open(clips[k][1], "rb") as f:
            reply = httpx.post(url + "/v1/audio/transcriptions", files={"file": (f"c{k}.wav", f, "audio/wav")},
                               data={"response_format": "text", "hotwords": hotwords[k]}, timeout=120)
        assert reply.status_code == 200, reply.text
        return reply.text.strip()

    with ThreadPoolExecutor(len(clips)) as pool:
        return list(pool.map(post, range(len(clips))))


def _metric(url: str, name: str) -> float:
    found = re.search(rf"^{name} ([\d.e+]+)$", httpx.get(url + "/metrics").text, re.M)
    assert found, name
    return float(found.group(1))


def test_concurrent_requests_share_engine_calls_and_each_gets_its_own_text(tiny_cfg, tiny_asr, clips):
    """Six clients at once, three with a hotword: the engine sees two or three calls (one per kind of
    request, perhaps one late-comer), not six, and each text is its clip's, as recognised alone."""
    cfg = with_api(tiny_cfg, decode_workers=6, max_transcriptions=8)
    hotwords = ["", "魔搭", "", "魔搭", "", "魔搭"]
    alone = [tiny_asr.transcribe(samples, tuple(h.split())).text for (samples, _), h in zip(clips, hotwords)]
    assert len(set(alone)) == 6, "six different clips: a mixed-up answer would show"
    with running_api(cfg, _engines(cfg, tiny_asr)) as api:
        texts = _post_all(api.url, clips, hotwords)
        calls = _metric(api.url, "voiceloop_asr_service_batches")
        segments = _metric(api.url, "voiceloop_asr_service_batched_segments")
    _each_its_own(texts, alone)
    assert segments == 6 and 2 <= calls <= 3, (calls, segments)


def _each_its_own(texts: list[str], alone: list[str]) -> None:
    """Each text is nearest its own clip's text recognised alone, and agrees with it to 90 %: padding
    in a batch moves a near-tie token or two on random weights (see tests/asr/test_torch_batching.py),
    but a transcript delivered to the wrong client would be another clip's text altogether."""
    for k, text in enumerate(texts):
        distances = [edit_distance(text, other) for other in alone]
        assert distances.index(min(distances)) == k, (k, text, alone)
        assert 1 - distances[k] / max(1, len(alone[k])) >= 0.9, (text, alone[k])


def test_a_batch_that_fails_is_recognised_segment_by_segment(tiny_cfg, tiny_asr, clips, caplog):
    cfg = with_api(tiny_cfg, decode_workers=6, max_transcriptions=8)
    alone = [tiny_asr.transcribe(samples).text for samples, _ in clips]
    with caplog.at_level(logging.WARNING), running_api(cfg, _engines(cfg, OutOfMemoryInBatches(tiny_asr))) as api:
        texts = _post_all(api.url, clips, [""] * len(clips))
    assert texts == alone, "one at a time: each exactly as alone"
    assert "recognising them one at a time" in caplog.text and "CUDA out of memory" in caplog.text


def test_on_a_cpu_each_segment_is_its_own_job(tiny_cfg, tiny_asr):
    """Padding buys a CPU nothing: `Engines.shared` batches only for an engine with a GPU batch budget."""
    assert tiny_asr.batch_seconds == 0
    assert Engines.shared(tiny_cfg, tiny_asr, create_synthesizer(tiny_cfg.tts)).batcher is None
