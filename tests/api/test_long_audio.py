"""A few compressed megabytes can decode to hours: uploads are bounded by duration
(api.max_audio_s) and decoded in bounded memory, and the work stops when the client hangs up."""

from __future__ import annotations

import logging
import socket
import time
from pathlib import Path

import httpx
import pytest

from voiceloop.config import ApiConfig

from support.api_server import running_api
from support.audiofiles import constant_flac
from support.memory import PeakRss

from api.conftest import make_engines, with_api


@pytest.fixture(scope="module")
def hour(tmp_path_factory) -> Path:
    return constant_flac(tmp_path_factory.mktemp("bomb") / "hour.flac", 3600)


@pytest.fixture(scope="module")
def api(tiny_cfg, tiny_asr):
    """Ten minutes at most; the API's shared engines, in this process so its memory can be watched."""
    cfg = with_api(tiny_cfg, max_audio_s=600)
    with running_api(cfg, make_engines(cfg, tiny_asr)) as running:
        yield running


def test_audio_longer_than_the_limit_is_refused_unrecognised(api, hour):
    with PeakRss() as rss, open(hour, "rb") as f:
        started = time.monotonic()
        r = httpx.post(api.url + "/v1/audio/transcriptions", files={"file": ("hour.flac", f)}, timeout=120)
        took = time.monotonic() - started
    assert r.status_code == 413, r.text
    error = r.json()["error"]
    assert error["code"] == "audio_too_long" and "api.max_audio_s (600 s" in error["message"], error
    assert "hour.flac" in error["message"] and "/tmp" not in error["message"]
    assert rss.growth_mb < 100, f"{rss.growth_mb:.0f} MB for a refused upload"
    assert took < 30, f"{took:.1f} s: decoding went on past the limit"


def test_ten_hours_in_seven_megabytes_are_refused_at_once_with_the_default_limit(tiny_cfg, tiny_asr, tmp_path):
    """The decode bomb of the review: its header announces ten hours, more than the default
    api.max_audio_s (4 h), so the answer comes before a sample is decoded."""
    ten = constant_flac(tmp_path / "ten.flac", 36000)
    cfg = with_api(tiny_cfg, max_upload_mb=ApiConfig().max_upload_mb)  # and the default api.max_audio_s
    engines = make_engines(cfg, tiny_asr)
    with running_api(cfg, engines) as api, PeakRss() as rss, open(ten, "rb") as f:
        started = time.monotonic()
        r = httpx.post(api.url + "/v1/audio/transcriptions", files={"file": ("ten.flac", f)}, timeout=120)
        took = time.monotonic() - started
    assert r.status_code == 413, r.text
    assert took < 5, f"{took:.1f} s: four hours were decoded before the refusal"
    assert "api.max_audio_s (14400 s" in r.json()["error"]["message"]
    assert rss.growth_mb < 60, f"{rss.growth_mb:.0f} MB for a refused upload"
    assert engines.asr_jobs.stats().jobs_done == 0


def test_an_hour_is_transcribed_in_bounded_memory(tiny_cfg, tiny_asr, hour):
    """The whole hour is decoded, cut and recognised without holding it (220 MiB as float32) in memory."""
    cfg = with_api(tiny_cfg, max_audio_s=7200)
    with running_api(cfg, make_engines(cfg, tiny_asr)) as api, PeakRss() as rss, open(hour, "rb") as f:
        r = httpx.post(api.url + "/v1/audio/transcriptions", files={"file": ("hour.flac", f)},
                       data={"response_format": "verbose_json"}, timeout=300)
    assert r.status_code == 200, r.text
    assert abs(r.json()["duration"] - 3600) < 1
    assert rss.growth_mb < 150, f"{rss.growth_mb:.0f} MB resident for one hour of audio"


def test_decoding_stops_when_the_client_hangs_up(tiny_cfg, tiny_asr, hour, caplog):
    cfg = with_api(tiny_cfg, max_audio_s=7200)
    body = hour.read_bytes()
    head = (b"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"hour.flac\"\r\n"
            b"Content-Type: audio/flac\r\n\r\n")
    form = head + body + b"\r\n--b--\r\n"
    caplog.set_level(logging.INFO, logger="voiceloop.api.app")
    with running_api(cfg, make_engines(cfg, tiny_asr)) as api:
        url = httpx.URL(api.url)
        with socket.create_connection((url.host, url.port)) as sock:
            sock.sendall(b"POST /v1/audio/transcriptions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                         b"Content-Type: multipart/form-data; boundary=b\r\n"
                         b"Content-Length: " + str(len(form)).encode() + b"\r\n\r\n" + form)
            time.sleep(1.0)  # decoding has begun
        hung_up = time.monotonic()
        while "stopped decoding after" not in caplog.text:
            assert time.monotonic() - hung_up < 2, f"still working 2 s after the client left:\n{caplog.text}"
            time.sleep(0.05)
