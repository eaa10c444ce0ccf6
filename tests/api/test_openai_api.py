"""The OpenAI-compatible endpoints through the official `openai` client, against a real uvicorn
server on loopback with the tiny random-weight SeACo-Paraformer and the real espeak fallback voice."""

from __future__ import annotations

import asyncio
import io
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import av
import httpx
import numpy as np
import openai
import pytest
from api.conftest import make_engines
from support.api_server import running_api
from support.audiofiles import write_audio
from support.early_answer import answer_before_body_ends
from support.recordings import ZH

from voiceloop.asr.segments import MAX_SEGMENT_S
from voiceloop.audio.decode import decode_file
from voiceloop.dialogue.events import StateChanged, TurnFinished, TurnState
from voiceloop.dialogue.turnlog import TurnRecord

CLIP = ZH / "funasr_asr_example.wav"  # 5.5 s


@pytest.fixture(scope="module")
def api(tiny_cfg, tiny_asr):
    with running_api(tiny_cfg, make_engines(tiny_cfg, tiny_asr)) as running:
        yield running


@pytest.fixture(scope="module")
def client(api):
    return openai.OpenAI(base_url=api.url + "/v1", api_key="unused", max_retries=0, timeout=60)


@pytest.fixture(scope="module")
def long_wav(tmp_path_factory):
    """~50 s of real speech: every recording back to back with 1 s pauses."""
    gap = np.zeros(16000, np.float32)
    parts = [p for f in sorted(ZH.glob("*.wav"))[:8] for p in (decode_file(f), gap)]
    return write_audio(tmp_path_factory.mktemp("long") / "long.flac", np.concatenate(parts), 16000)


def _transcribe(client, path, fmt, **kw):
    with open(path, "rb") as f:
        return client.audio.transcriptions.create(model="whisper-1", file=f, response_format=fmt, **kw)


def test_every_response_format(client):
    as_json = _transcribe(client, CLIP, "json")
    assert as_json.text and any("\u4e00" <= ch <= "\u9fff" for ch in as_json.text)
    text = _transcribe(client, CLIP, "text")
    assert isinstance(text, str) and text.strip() == as_json.text and not text.startswith('"')
    srt = _transcribe(client, CLIP, "srt")
    assert srt.startswith("1\n00:00:0") and " --> 00:00:0" in srt and as_json.text[:3] in srt
    vtt = _transcribe(client, CLIP, "vtt")
    assert vtt.startswith("WEBVTT\n\n00:00:0") and "." in vtt.splitlines()[2]
    verbose = _transcribe(client, CLIP, "verbose_json", language="zh")
    assert verbose.task == "transcribe" and verbose.language == "zh"
    assert verbose.duration == pytest.approx(5.55, abs=0.05) and verbose.text == as_json.text
    assert verbose.segments and all(0 <= s.start <= s.end <= verbose.duration + 0.01 for s in verbose.segments)
    assert "".join(s.text for s in verbose.segments) == verbose.text


def test_a_long_upload_goes_to_the_engine_segment_by_segment_with_offset_timestamps(api, client, long_wav):
    done_before = api.ctx.engines.asr_jobs.stats().jobs_done
    verbose = _transcribe(client, long_wav, "verbose_json")
    jobs = api.ctx.engines.asr_jobs.stats().jobs_done - done_before
    assert verbose.duration > 45
    assert jobs >= verbose.duration / MAX_SEGMENT_S  # no job longer than that
    starts = [s.start for s in verbose.segments]
    assert starts == sorted(starts) and starts[-1] > verbose.duration - 12


def test_hotwords_field_and_the_hotwords_file_change_the_text_without_a_restart(api, client):
    plain = _transcribe(client, CLIP, "json").text
    words = "达摩院 魔搭 热词 北京 上海 杭州"
    with_field = _transcribe(client, CLIP, "json", extra_body={"hotwords": words}).text
    assert with_field != plain
    # The Settings page's endpoint writes asr.hotwords_file; the next job uses it.
    saved = httpx.put(api.url + "/api/hotwords", json={"hotwords": words.split()}).json()
    try:
        assert saved["hotwords"] == words.split()
        assert api.ctx.engines.hotwords.path.read_text(encoding="utf-8").split() == words.split()
        assert _transcribe(client, CLIP, "json").text == with_field
    finally:
        httpx.put(api.url + "/api/hotwords", json={"hotwords": []})
    assert _transcribe(client, CLIP, "json").text == plain


@pytest.mark.parametrize("fmt, container", [("mp3", "mp3"), ("wav", "wav"), ("opus", "ogg"), ("flac", "flac"),
                                            ("pcm", None)])
def test_speech_in_every_format_from_the_fallback_voice(client, fmt, container):
    with client.audio.speech.with_streaming_response.create(
            model="tts-1", voice="alloy", input="你好，今天天气很好。我们去公园散步吧。", response_format=fmt) as response:
        assert response.status_code == 200
        chunks = list(response.iter_bytes())
    data = b"".join(chunks)
    if container is None:
        samples = np.frombuffer(data, np.int16)
        assert len(data) % 2 == 0 and samples.size / 24000 > 1.0 and np.abs(samples).max() > 1000
        return
    with av.open(io.BytesIO(data), format=container) as f:
        stream = f.streams.audio[0]
        seconds = sum(frame.samples for frame in f.decode(stream)) / stream.rate
    assert seconds > 1.0


def test_speech_speed_changes_the_tempo(client):
    def seconds(speed):
        data = client.audio.speech.create(model="tts-1", voice="alloy", input="今天天气很好。", response_format="wav",
                                          speed=speed).content
        with av.open(io.BytesIO(data)) as f:
            return sum(frame.samples for frame in f.decode(f.streams.audio[0])) / 24000

    normal, fast = seconds(1.0), seconds(2.0)
    assert fast == pytest.approx(normal / 2, rel=0.1)


def test_speech_rejects_empty_and_unspeakable_input(client):
    with pytest.raises(openai.BadRequestError, match="input"):
        client.audio.speech.create(model="tts-1", voice="alloy", input="")
    with pytest.raises(openai.BadRequestError, match="nothing speakable"):
        client.audio.speech.create(model="tts-1", voice="alloy", input="*** ### ---")


def test_models_lists_the_asr_and_tts_models(api, client, tiny_cfg):
    ids = [m.id for m in client.models.list()]
    assert ids == [tiny_cfg.asr.model, f"tts-{api.ctx.engines.tts.name}"]
    assert api.ctx.engines.tts.name.startswith("edge+")  # the configured voice, then its fallbacks


def test_unreadable_audio_is_a_400_naming_the_file_and_the_reason(client, tmp_path):
    bad = tmp_path / "notes.mp3"
    bad.write_text("this is not audio", encoding="utf-8")
    with pytest.raises(openai.BadRequestError, match=r"notes\.mp3: not a recognised audio file"):
        _transcribe(client, bad, "json")
    silent = write_audio(tmp_path / "silent.wav", np.zeros(16000, np.float32), 16000)
    with pytest.raises(openai.BadRequestError, match="silent.wav: audio is silent"):
        _transcribe(client, silent, "json")
    # a client file name is a label, never a path
    with pytest.raises(openai.BadRequestError, match=r"unreadable audio: passwd: "):
        client.audio.transcriptions.create(model="x", file=("../../etc/passwd", b"root:x:0:0"))


def test_bad_fields_are_a_400_naming_the_field(api):
    with open(CLIP, "rb") as f:
        r = httpx.post(api.url + "/v1/audio/transcriptions", files={"file": f}, data={"response_format": "docx"})
    assert r.status_code == 400 and "response_format" in r.json()["error"]["message"]
    r = httpx.post(api.url + "/v1/audio/transcriptions", data={"model": "x"})
    assert r.status_code == 400 and "file" in r.json()["error"]["message"]


def test_uploads_over_the_limit_get_413_before_the_body_is_read(api, client, tmp_path):
    limit = int(api.ctx.cfg.api.max_upload_mb * 2**20)
    big = tmp_path / "big.wav"
    big.write_bytes(b"\0" * (limit + 200_000))
    for _ in range(5):  # the SDK sends the whole body before it reads: the 413 must still be there
        with pytest.raises(openai.APIStatusError, match="api.max_upload_mb") as info:
            _transcribe(client, big, "json")
        assert info.value.status_code == 413
    # No Content-Length (chunked): counted while it streams in, answered once past the limit.
    def body():
        yield b"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.wav\"\r\n\r\n"
        for _ in range(3 * limit >> 16):
            yield b"\0" * (1 << 16)
        yield b"\r\n--b--\r\n"

    r = httpx.post(api.url + "/v1/audio/transcriptions", content=body(),
                   headers={"Content-Type": "multipart/form-data; boundary=b"})
    assert r.status_code == 413 and "api.max_upload_mb" in r.json()["error"]["message"]


@pytest.mark.parametrize("chunked", [False, True])
def test_an_early_413_waits_for_the_rest_of_the_body(api, chunked):
    """The answer is on the wire before the body is in, and the connection stays open while the
    client finishes sending: closing with unread data resets it, and the reset can destroy the
    answer before a client that reads only after sending gets to it."""
    limit = int(api.ctx.cfg.api.max_upload_mb * 2**20)
    piece = b"\0" * (1 << 16)
    rest = 256  # 16 MB after the answer: more than the socket buffers hold, so a hang-up shows
    if chunked:  # answered once the count passes the limit: send just past it before reading
        preamble = b"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.wav\"\r\n\r\n"
        before = [preamble] + [piece] * ((limit >> 16) + 2)
        after = [b"%x\r\n%s\r\n" % (len(piece), piece)] * rest + [b"0\r\n\r\n"]
        headers = [("Transfer-Encoding", "chunked")]
    else:  # answered from the head alone
        before, after = [], [piece] * rest
        headers = [("Content-Length", str(rest << 16))]
    status, body = answer_before_body_ends(api.url + "/v1/audio/transcriptions",
                                           [("Content-Type", "multipart/form-data; boundary=b"), *headers],
                                           before, after)
    assert status == 413 and "api.max_upload_mb" in body["error"]["message"]


def test_a_full_queue_answers_503_with_retry_after(tiny_cfg, tiny_asr):
    engines = make_engines(tiny_cfg, tiny_asr, max_waiting=1)
    release = threading.Event()
    with running_api(tiny_cfg, engines) as api:
        # one job holds the engine, one waits: the queue (max_waiting=1) is full
        blocker = asyncio.run_coroutine_threadsafe(engines.asr_jobs.run(release.wait, 30), api.loop)
        waiter = asyncio.run_coroutine_threadsafe(engines.asr_jobs.run(time.sleep, 0), api.loop)
        try:
            deadline = time.monotonic() + 5
            while engines.asr_jobs.stats().waiting_service < 1 and time.monotonic() < deadline:
                time.sleep(0.01)
            with open(CLIP, "rb") as f:
                r = httpx.post(api.url + "/v1/audio/transcriptions", files={"file": f}, timeout=30)
            assert r.status_code == 503 and r.headers["Retry-After"] == "5"
            assert "busy" in r.json()["error"]["message"]
            client = openai.OpenAI(base_url=api.url + "/v1", api_key="x", max_retries=0)
            with pytest.raises(openai.InternalServerError, match="busy"):
                _transcribe(client, CLIP, "json")
        finally:
            release.set()
            blocker.result(10)
            waiter.result(10)


def test_concurrent_clients_all_get_the_same_answer_or_are_told_to_retry(api, client):
    """Eight at once: those let in (api.max_transcriptions, 4) all get the same text; the others a
    503 with Retry-After, not a wrong or mixed-up answer."""
    expected = _transcribe(client, CLIP, "json").text

    def post(_):
        with open(CLIP, "rb") as f:
            return httpx.post(api.url + "/v1/audio/transcriptions", files={"file": f}, timeout=60)

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(post, range(8)))
    texts = [r.json()["text"] for r in answers if r.status_code == 200]
    refused = [r for r in answers if r.status_code != 200]
    assert texts == [expected] * len(texts) and len(texts) >= api.ctx.cfg.api.max_transcriptions
    assert all(r.status_code == 503 and r.headers["Retry-After"] == "5" for r in refused), refused


def test_metrics_status_and_the_event_stream(api, client):
    _transcribe(client, CLIP, "json")
    metrics = httpx.get(api.url + "/metrics").text
    assert 'voiceloop_api_requests_total{endpoint="/v1/audio/transcriptions",method="POST",status="200"}' in metrics
    assert "voiceloop_asr_real_time_factor_count{source=\"api\"}" in metrics
    record = TurnRecord(1, user_text="今天天气怎么样", reply_text="很好", heard_text="很好", interrupted=True,
                        asr_s=0.3, abandoned=2)
    record.mark("endpoint", 10.0), record.mark("asr_done", 10.3)
    lines = []
    with httpx.stream("GET", api.url + "/events", timeout=10) as stream:
        api.call(api.ctx.on_event, StateChanged(TurnState.THINKING, 1, time.monotonic()))
        api.call(api.ctx.on_event, TurnFinished(record))
        for line in stream.iter_lines():
            if line.startswith("data: "):
                lines.append(json.loads(line[6:]))
            if len(lines) == 2:
                break
    assert lines[0] == {**lines[0], "type": "state", "state": "thinking", "turn": 1}
    assert lines[1]["type"] == "turn" and lines[1]["user_text"] == "今天天气怎么样" and lines[1]["interrupted"]
    status = httpx.get(api.url + "/status").json()
    assert status["state"] == "thinking" and status["recent_turns"][-1]["user_text"] == "今天天气怎么样"
    assert status["asr"]["engine"] == "paraformer" and status["tts"]["engine"] == api.ctx.engines.tts.name
    metrics = httpx.get(api.url + "/metrics").text
    assert 'voiceloop_turns_total{outcome="interrupted"} 1.0' in metrics
    assert "voiceloop_barge_ins_total 1.0" in metrics
    assert "voiceloop_replies_abandoned_total 2.0" in metrics  # prepared in pauses the user went on after
    assert 'voiceloop_turn_stage_seconds_count{stage="asr"} 1.0' in metrics
