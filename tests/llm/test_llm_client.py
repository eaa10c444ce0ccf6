"""The streaming client against a real OpenAI-compatible server on 127.0.0.1, one test per failure."""

from __future__ import annotations

import asyncio
import email.utils
import socket
import time
from contextlib import aclosing

import pytest
from support.openai_server import OpenAIServer, Script, ThreadedOpenAIServer

from voiceloop.config import LlmConfig
from voiceloop.errors import LlmError
from voiceloop.llm.base import Message, RateLimitedError
from voiceloop.llm.client import OpenAICompatibleClient, parse_retry_after

REPLY = ("好的", "，今天", "北京", "晴，", "气温二十五度", "。")
ASK = [Message("system", "简短回答"), Message("user", "北京今天天气怎么样")]


async def collect(cfg: LlmConfig, messages=ASK) -> list[str]:
    client = OpenAICompatibleClient(cfg)
    try:
        async with aclosing(client.stream(messages)) as deltas:
            return [d async for d in deltas]
    finally:
        await client.aclose()


async def failure(script: Script, **cfg) -> tuple[LlmError, OpenAIServer]:
    async with OpenAIServer(script) as srv:
        with pytest.raises(LlmError) as info:
            await collect(LlmConfig(base_url=srv.base_url, **cfg))
        return info.value, srv


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_deltas_arrive_in_order_and_request_carries_the_transcript(monkeypatch):
    monkeypatch.setenv("VOICELOOP_TEST_KEY", "sk-test-123")
    async with OpenAIServer(Script(deltas=REPLY, delta_delay_s=0.01)) as srv:
        cfg = LlmConfig(base_url=srv.base_url + "/", model="qwen-test", api_key_env="VOICELOOP_TEST_KEY",
                        temperature=0.3, max_tokens=64)
        assert await collect(cfg) == list(REPLY)
    (req,) = srv.requests
    assert req.path == "/v1/chat/completions"
    assert req.headers["authorization"] == "Bearer sk-test-123"
    assert req.body == {"model": "qwen-test", "stream": True, "temperature": 0.3, "max_tokens": 64,
                        "messages": [{"role": "system", "content": "简短回答"},
                                     {"role": "user", "content": "北京今天天气怎么样"}]}
    assert req.completed and not req.client_disconnected


async def test_no_api_key_sends_no_authorization_header(monkeypatch):
    monkeypatch.delenv("VOICELOOP_LLM_API_KEY", raising=False)
    async with OpenAIServer(Script()) as srv:
        assert await collect(LlmConfig(base_url=srv.base_url)) == ["你好", "！"]
    assert "authorization" not in srv.requests[0].headers


@pytest.mark.parametrize("script", [Script(split_data=True), Script(comments=True), Script(mode="no_done"),
                                    Script(mode="json")], ids=["multiline-data", "comments", "no-done", "json"])
async def test_tolerated_stream_shapes(script):
    async with OpenAIServer(script) as srv:
        assert "".join(await collect(LlmConfig(base_url=srv.base_url))) == "你好！"


async def test_refused_connection():
    port = free_port()
    with pytest.raises(LlmError) as info:
        await collect(LlmConfig(base_url=f"http://127.0.0.1:{port}/v1"))
    assert info.value.code == "refused"
    assert str(info.value) == (f"LLM at http://127.0.0.1:{port}/v1 refused the connection; "
                               "is the server running? (llm.base_url)")


async def test_unresolvable_host():
    with pytest.raises(LlmError) as info:
        await collect(LlmConfig(base_url="http://no-such-host.invalid/v1", connect_timeout_s=3))
    assert info.value.code == "unreachable"
    assert "no-such-host.invalid" in str(info.value)


@pytest.mark.parametrize("status", [401, 403])
async def test_auth_errors_say_which_env_var(status, monkeypatch):
    monkeypatch.delenv("VOICELOOP_LLM_API_KEY", raising=False)
    err, _ = await failure(Script(mode="status", status=status,
                                  error_body='{"error": {"message": "Invalid API key"}}'))
    assert err.code == "auth"
    assert f"HTTP {status}: Invalid API key" in str(err)
    assert "$VOICELOOP_LLM_API_KEY" in str(err)


async def test_rate_limited_carries_retry_after():
    err, _ = await failure(Script(mode="status", status=429, headers=(("Retry-After", "7"),)))
    assert isinstance(err, RateLimitedError) and err.code == "rate_limited"
    assert err.retry_after == 7.0
    assert "retry after 7 s" in str(err)


def test_retry_after_http_date():
    now = time.time()
    date = email.utils.formatdate(now + 30, usegmt=True)
    assert parse_retry_after(date, now=now) == pytest.approx(30, abs=1)
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None
    assert parse_retry_after("-3") == 0.0


@pytest.mark.parametrize("status", [500, 503])
async def test_server_errors(status):
    err, _ = await failure(Script(mode="status", status=status, error_body="model crashed"))
    assert err.code == "server"
    assert f"(HTTP {status}: model crashed)" in str(err)


async def test_unknown_model_is_a_bad_request():
    err, _ = await failure(Script(mode="status", status=404,
                                  error_body='{"error": {"message": "model \\"x\\" not found"}}'))
    assert err.code == "bad_request"
    assert 'model "x" not found' in str(err) and "llm.model" in str(err)


async def test_malformed_event_after_text():
    async with OpenAIServer(Script(mode="malformed")) as srv:
        client = OpenAICompatibleClient(LlmConfig(base_url=srv.base_url))
        got = []
        with pytest.raises(LlmError) as info:
            async with aclosing(client.stream(ASK)) as deltas:
                async for d in deltas:
                    got.append(d)
        await client.aclose()
    assert got == ["你好"]
    assert info.value.code == "bad_stream"
    assert "not JSON" in str(info.value)


async def test_web_page_instead_of_a_stream():
    err, _ = await failure(Script(mode="html"))
    assert err.code == "bad_stream"
    assert "text/html" in str(err) and "/v1" in str(err)


async def test_server_drops_connection_mid_reply():
    err, _ = await failure(Script(deltas=REPLY, mode="disconnect", disconnect_after=2))
    assert err.code == "disconnected"
    assert "mid-reply" in str(err)


async def test_first_token_timeout_and_the_server_sees_the_client_leave():
    start = time.monotonic()
    err, srv = await failure(Script(mode="stall"), first_token_timeout_s=0.3)
    assert err.code == "first_token_timeout"
    assert "0.3 s (llm.first_token_timeout_s)" in str(err)
    assert time.monotonic() - start < 10
    await asyncio.wait_for(srv.disconnected.wait(), 5)
    assert srv.requests[0].client_disconnected


async def test_slow_first_token_within_limit_is_fine():
    async with OpenAIServer(Script(first_token_delay_s=0.3)) as srv:
        assert await collect(LlmConfig(base_url=srv.base_url, first_token_timeout_s=5)) == ["你好", "！"]


async def test_total_timeout_on_a_slow_server():
    script = Script(deltas=tuple("一二三四五六七八九十"), delta_delay_s=0.15)
    err, srv = await failure(script, total_timeout_s=1.0)
    assert err.code == "timeout"
    assert "1 s (llm.total_timeout_s)" in str(err)


async def test_slow_consumer_does_not_count_against_total_timeout():
    """Speaking at its own pace must not time the reply out: only waits on the server count."""
    async with OpenAIServer(Script(deltas=tuple("一二三四五"))) as srv:
        client = OpenAICompatibleClient(LlmConfig(base_url=srv.base_url, total_timeout_s=1.0))
        got = []
        async with aclosing(client.stream(ASK)) as deltas:
            async for d in deltas:
                got.append(d)
                await asyncio.sleep(0.4)
        await client.aclose()
    assert "".join(got) == "一二三四五"


async def test_cancelling_the_consumer_closes_the_stream_promptly():
    """Barge-in: cancel the task reading the reply; the server must see the socket close."""
    async with OpenAIServer(Script(deltas=tuple("一二三四五六七八九十") * 10, delta_delay_s=0.05)) as srv:
        client = OpenAICompatibleClient(LlmConfig(base_url=srv.base_url))
        got: list[str] = []
        first = asyncio.Event()

        async def consume() -> None:
            async with aclosing(client.stream(ASK)) as deltas:
                async for d in deltas:
                    got.append(d)
                    first.set()

        task = asyncio.create_task(consume())
        await asyncio.wait_for(first.wait(), 5)
        task.cancel()
        cancelled_at = time.monotonic()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.wait_for(srv.disconnected.wait(), 5)
        await client.aclose()
    req = srv.requests[0]
    assert req.client_disconnected and not req.completed
    assert req.disconnected_at - cancelled_at < 2.0
    assert 1 <= len(got) < 100


async def test_breaking_out_of_the_loop_closes_the_stream():
    async with OpenAIServer(Script(deltas=tuple("一二三四五六七八九十") * 10, delta_delay_s=0.05)) as srv:
        client = OpenAICompatibleClient(LlmConfig(base_url=srv.base_url))
        async with aclosing(client.stream(ASK)) as deltas:
            async for _ in deltas:
                break
        await asyncio.wait_for(srv.disconnected.wait(), 5)
        await client.aclose()
    assert srv.requests[0].client_disconnected


async def test_client_is_reused_across_turns():
    async with OpenAIServer(Script(deltas=("一",)), Script(deltas=("二",))) as srv:
        client = OpenAICompatibleClient(LlmConfig(base_url=srv.base_url))
        first = [d async for d in client.stream(ASK)]
        second = [d async for d in client.stream(ASK + [Message("assistant", "一"), Message("user", "再说")])]
        await client.aclose()
    assert (first, second) == (["一"], ["二"])
    assert srv.requests[1].body["messages"][-1] == {"role": "user", "content": "再说"}


async def test_probe():
    async with OpenAIServer() as srv:
        client = OpenAICompatibleClient(LlmConfig(base_url=srv.base_url))
        assert await client.probe() is None
        await client.aclose()
    assert srv.requests[0].method == "GET" and srv.requests[0].path == "/v1/models"
    client = OpenAICompatibleClient(LlmConfig(base_url=f"http://127.0.0.1:{free_port()}/v1"))
    problem = await client.probe()
    await client.aclose()
    assert problem is not None and "refused the connection" in problem


def test_threaded_server_serves_a_synchronous_caller():
    with ThreadedOpenAIServer(Script(deltas=("你", "好"))) as srv:
        assert asyncio.run(collect(LlmConfig(base_url=srv.base_url))) == ["你", "好"]
        assert srv.requests[0].body["messages"][-1]["content"] == "北京今天天气怎么样"
