"""What the API may take from the dialogue: long uploads decode on threads of their own and are
refused before decoding when too many are in progress, a dialogue job waits for one segment at
most, and the API's voice failures never switch the dialogue's voice."""

from __future__ import annotations

import asyncio
import concurrent.futures
import time

import httpx
import numpy as np
import pytest

from voiceloop.audio.decode import decode_file
from voiceloop.engines.scheduler import Priority
from support.api_server import running_api
from support.audiofiles import write_audio
from support.recordings import ZH

from api.conftest import make_engines, with_api

UPLOADS = 6


@pytest.fixture(scope="module")
def long_speech(tmp_path_factory):
    """About five minutes of real speech: the recordings back to back, six times over."""
    gap = np.zeros(8000, np.float32)
    parts = [p for f in sorted(ZH.glob("aishell1_*.wav")) for p in (decode_file(f), gap)] * 6
    return write_audio(tmp_path_factory.mktemp("long") / "long.flac", np.concatenate(parts), 16000).read_bytes()


def test_six_long_uploads_leave_the_dialogue_its_threads_and_its_turn(tiny_cfg, tiny_asr, long_speech):
    """On a 2-core box Python's default pool has 6 threads, which the dialogue's Edge decoding needs:
    six uploads decoding there stopped the spoken replies. Now the uploads beyond
    api.max_transcriptions are refused before decoding, the rest decode on their own threads, and a
    dialogue job submitted meanwhile waits for at most the one segment in flight."""
    cfg = with_api(tiny_cfg, max_audio_s=3600)
    engines = make_engines(cfg, tiny_asr)
    with running_api(cfg, engines) as api:
        api.call(api.loop.set_default_executor, concurrent.futures.ThreadPoolExecutor(6))
        answers: list[tuple[float, httpx.Response]] = []

        def post(_):
            r = httpx.post(api.url + "/v1/audio/transcriptions", files={"file": ("long.flac", long_speech)},
                           timeout=300)
            answers.append((time.monotonic(), r))

        with concurrent.futures.ThreadPoolExecutor(UPLOADS) as clients:
            sent = [clients.submit(post, i) for i in range(UPLOADS)]
            while len(answers) < UPLOADS - cfg.api.max_transcriptions:  # the refused answer at once
                assert not any(f.done() and f.exception() for f in sent)
                time.sleep(0.05)
            hop = asyncio.run_coroutine_threadsafe(_default_pool_hop(), api.loop).result(30)
            assert all(r.status_code == 503 for _, r in answers), "the hop must be measured while uploads decode"
            wait = asyncio.run_coroutine_threadsafe(_dialogue_wait(engines), api.loop).result(120)
            for f in sent:
                f.result()
    refused = [r for _, r in answers if r.status_code == 503]
    done = [r for _, r in answers if r.status_code == 200]
    assert len(refused) == UPLOADS - cfg.api.max_transcriptions and len(done) == cfg.api.max_transcriptions
    assert all("api.max_transcriptions" in r.json()["error"]["message"] and r.headers["Retry-After"] == "5"
               for r in refused)
    assert answers[0][1].status_code == 503  # refused before any upload was decoded and recognised
    print(f"default-pool hop during {len(done)} decodes: {hop * 1000:.1f} ms; dialogue waited {wait} segments")
    assert hop < 1.0, f"the dialogue's thread pool hop took {hop:.2f} s behind the uploads"
    assert wait <= 1, f"the dialogue job waited for {wait} service jobs"


async def _default_pool_hop() -> float:
    """What the dialogue's Edge decoding does per MP3 chunk: one hop through the default pool."""
    started = time.monotonic()
    await asyncio.to_thread(lambda: None)
    return time.monotonic() - started


async def _dialogue_wait(engines) -> int:
    """Once the uploads' segments are being recognised, how many service jobs end between a
    dialogue job's submission and its start."""
    jobs = engines.asr_jobs
    while jobs.stats().jobs_done < 2:
        await asyncio.sleep(0.02)
    submitted = jobs.stats().jobs_done
    started = await jobs.run(lambda: jobs.stats().jobs_done, priority=Priority.DIALOGUE)
    return started - submitted


def test_a_full_voice_answers_503_before_speaking(tiny_cfg, tiny_asr):
    engines = make_engines(tiny_cfg, tiny_asr)
    with running_api(tiny_cfg, engines) as api:
        held = [api.call(engines.service_tts.admit) for _ in range(tiny_cfg.api.max_syntheses)]
        r = httpx.post(api.url + "/v1/audio/speech", json={"input": "你好。", "response_format": "wav"}, timeout=60)
        assert r.status_code == 503 and r.headers["Retry-After"] == "5", r.text
        assert "api.max_syntheses" in r.json()["error"]["message"]
        for ticket in held:
            api.call(ticket.release)
        r = httpx.post(api.url + "/v1/audio/speech", json={"input": "你好。", "response_format": "wav"}, timeout=60)
        assert r.status_code == 200 and len(r.content) > 1000


def test_an_api_voice_failure_leaves_the_dialogues_voice_alone(tiny_cfg, tiny_asr):
    """Edge is unreachable: the API's request finds it down and falls back, but the dialogue's
    chain (`engines.tts`) still tries Edge first for its next sentence."""
    engines = make_engines(tiny_cfg, tiny_asr)
    with running_api(tiny_cfg, engines) as api:
        r = httpx.post(api.url + "/v1/audio/speech", json={"input": "你好。", "response_format": "wav"}, timeout=60)
    assert r.status_code == 200
    assert engines.service_tts.tts.primary_down, "the API's own chain saw Edge fail"
    assert not engines.tts.primary_down, "the dialogue's voice was switched by an API request"
