"""Closed by default: the token on every endpoint but /health, and no open bind without a token."""

from __future__ import annotations

import os
import socket

import httpx
import openai
import pytest

from support.api_server import running_api
from support.cli import run_voiceloop
from support.early_answer import answer_before_body_ends
from support.recordings import ZH

from api.conftest import make_engines

TOKEN = "s3cret-token-for-tests"


@pytest.fixture(scope="module")
def api(tiny_cfg, tiny_asr):
    os.environ[tiny_cfg.api.token_env] = TOKEN
    try:
        with running_api(tiny_cfg, make_engines(tiny_cfg, tiny_asr)) as running:
            yield running
    finally:
        del os.environ[tiny_cfg.api.token_env]


def _client(api, key):
    return openai.OpenAI(base_url=api.url + "/v1", api_key=key, max_retries=0, timeout=60)


def test_every_endpoint_needs_the_token_but_health_and_the_console(api):
    clip = ZH / "funasr_asr_example.wav"
    with pytest.raises(openai.AuthenticationError, match="wrong bearer token"):
        _client(api, "wrong").models.list()
    with pytest.raises(openai.AuthenticationError, match="wrong bearer token"), open(clip, "rb") as f:
        _client(api, TOKEN + "x").audio.transcriptions.create(model="x", file=f)
    for path in ("/status", "/metrics", "/events", "/v1/models", "/api/sysinfo", "/api/hotwords", "/openapi.json"):
        r = httpx.get(api.url + path)
        assert r.status_code == 401 and "missing bearer token" in r.json()["error"]["message"], path
        assert r.headers["WWW-Authenticate"] == "Bearer"
    r = httpx.post(api.url + "/v1/audio/speech", json={"input": "你好", "voice": "x"})
    assert r.status_code == 401
    assert httpx.get(api.url + "/health").json() == {"status": "ok"}
    assert httpx.get(api.url + "/console/").status_code == 200
    with open(clip, "rb") as f:
        assert _client(api, TOKEN).audio.transcriptions.create(model="x", file=f).text
    assert httpx.get(api.url + "/status", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200


def test_an_upload_with_a_wrong_token_hears_why_after_sending_it(api, tmp_path):
    """The 401 goes out from the head alone; a client that reads only after sending must still get it."""
    body = b"\0" * (16 << 20)  # more than the socket buffers hold, so a hang-up shows
    status, answer = answer_before_body_ends(
        api.url + "/v1/audio/transcriptions",
        [("Authorization", "Bearer wrong"), ("Content-Type", "multipart/form-data; boundary=b"),
         ("Content-Length", str(len(body)))], [], [body])
    assert status == 401 and "wrong bearer token" in answer["error"]["message"]
    big = tmp_path / "big.wav"
    big.write_bytes(b"\0" * (4 << 20))
    for _ in range(3):
        with pytest.raises(openai.AuthenticationError, match="wrong bearer token"), open(big, "rb") as f:
            _client(api, "wrong").audio.transcriptions.create(model="x", file=f)


def test_an_open_bind_without_a_token_is_refused_with_the_fix(tmp_path):
    config = tmp_path / "voiceloop.yaml"
    config.write_text("api:\n  host: 0.0.0.0\n  token_env: VOICELOOP_TEST_UNSET_TOKEN\n", encoding="utf-8")
    result = run_voiceloop("serve", "--config", str(config), timeout=60)
    assert result.returncode == 2
    assert "api.host is '0.0.0.0', beyond loopback, but no API token is set" in result.stderr
    assert "set the environment variable VOICELOOP_TEST_UNSET_TOKEN" in result.stderr
    # `run` checks the same before it loads a model or opens a device
    result = run_voiceloop("run", "--config", str(config), timeout=60)
    assert result.returncode == 2 and "VOICELOOP_TEST_UNSET_TOKEN" in result.stderr


def test_a_port_in_use_is_named_with_the_key_to_change(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        config = tmp_path / "voiceloop.yaml"
        config.write_text(f"api:\n  port: {port}\n", encoding="utf-8")
        result = run_voiceloop("serve", "--config", str(config), timeout=60)
    assert result.returncode == 2
    assert f"port {port} on 127.0.0.1 is already in use" in result.stderr and "set api.port" in result.stderr
