"""Small bounds of the API: hotwords per request, what a 500 tells the client, one LLM probe for
many /status calls."""

from __future__ import annotations

import asyncio
import dataclasses

import httpx
import openai
import pytest

from voiceloop.api.server import LlmProbe
from voiceloop.config import LlmConfig
from voiceloop.engines.hotwords import MAX_HOTWORD_CHARS, MAX_HOTWORDS
from support.api_server import running_api
from support.recordings import ZH

from api.conftest import make_engines


@pytest.fixture(scope="module")
def api(tiny_cfg, tiny_asr, tmp_path_factory):
    """The hotwords file is a directory: saving it fails inside the server, as a full disk would."""
    folder = tmp_path_factory.mktemp("hotwords-dir")
    cfg = dataclasses.replace(tiny_cfg, asr=dataclasses.replace(tiny_cfg.asr, hotwords_file=str(folder)))
    with running_api(cfg, make_engines(cfg, tiny_asr)) as running:
        yield running


@pytest.mark.parametrize("hotwords, words", [
    (" ".join(f"词{i}" for i in range(MAX_HOTWORDS + 1)), f"{MAX_HOTWORDS + 1} hotwords: at most {MAX_HOTWORDS}"),
    ("好" * (MAX_HOTWORD_CHARS + 1), f"expected one word of at most {MAX_HOTWORD_CHARS} characters"),
], ids=["too-many", "too-long"])
def test_too_many_or_too_long_hotwords_are_refused(api, hotwords, words):
    client = openai.OpenAI(base_url=api.url + "/v1", api_key="unused", max_retries=0, timeout=60)
    with pytest.raises(openai.BadRequestError, match=words), open(ZH / "funasr_asr_example.wav", "rb") as f:
        client.audio.transcriptions.create(model="x", file=f, extra_body={"hotwords": hotwords})


def test_an_internal_error_does_not_tell_the_client_its_details(api):
    r = httpx.put(api.url + "/api/hotwords", json={"hotwords": ["魔搭"]}, timeout=30)
    assert r.status_code == 500
    message = r.json()["error"]["message"]
    assert message == "internal error; the server's log has the details"
    assert "Error" not in message and "/" not in message


async def test_concurrent_status_calls_share_one_llm_probe():
    asked = 0

    async def slow_models(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal asked
        await reader.readuntil(b"\r\n\r\n")
        asked += 1
        await asyncio.sleep(0.5)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n"
                     b"Connection: close\r\n\r\n{\"data\":[]}")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(slow_models, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        probe = LlmProbe(LlmConfig(base_url=f"http://127.0.0.1:{port}/v1"))
        assert await asyncio.gather(*(probe() for _ in range(20))) == [None] * 20
        assert asked == 1
        assert await probe() is None and asked == 1  # cached
