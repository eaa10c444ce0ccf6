"""The ways the server runs: `voiceloop wyoming` as a real subprocess, and inside `voiceloop run`'s
wiring (`daemon.serve`) on the dialogue's own engine and scheduler."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import signal
import socket
import sys
import threading

import pytest
from support.cer import cer
from support.cli import run_voiceloop
from support.net import closed_port
from support.netns import in_new_netns
from support.openai_server import OpenAIServer, Script
from support.recordings import ZH, read_manifest
from support.simroom import RoomSpec, SimulatedRoom
from support.wyoming_peer import ServerThread, pcm16, send_audio, whisper_config, wyoming_config
from wyoming.asr import Transcribe
from wyoming.info import Describe, Info

from voiceloop.audio.decode import decode_file
from voiceloop.config import DialogueConfig, LlmConfig, WyomingConfig
from voiceloop.modes.daemon import serve
from voiceloop.dialogue.events import TurnFinished
from voiceloop.engines import Engines
from voiceloop.errors import VoiceloopError
from voiceloop.tts.fallback import create_synthesizer
from voiceloop.wyoming import WyomingServer, wyoming_alongside

CLIP_1 = "aishell1_BAC009S0724W0121.wav"  # 广州市房地产中介协会分析
CLIP_2 = "aishell1_BAC009S0764W0121.wav"  # 甚至出现交易几乎停滞的情况


async def _transcribe(port: int, name: str) -> str:
    from wyoming.client import AsyncTcpClient

    async with AsyncTcpClient("127.0.0.1", port, connect_timeout=10, read_timeout=60) as client:
        await send_audio(client, pcm16(decode_file(ZH / name)), 16000, transcribe=Transcribe(language="zh-cn"))
        event = await client.read_event()
    assert event.type == "transcript", event
    return event.data["text"]


async def _listening(port: int, timeout_s: float) -> None:
    for _ in range(int(timeout_s * 10)):
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.1)
            continue
        writer.close()
        return
    raise AssertionError(f"nothing listening on {port} after {timeout_s} s")


async def _wait_for_line(stream: asyncio.StreamReader, text: str, seen: list[str], timeout_s: float) -> None:
    async def scan():
        while line := await stream.readline():
            seen.append(line.decode("utf-8", "replace").rstrip())
            if text in seen[-1]:
                return
        raise AssertionError(f"{text!r} never came:\n" + "\n".join(seen[-30:]))
    await asyncio.wait_for(scan(), timeout_s)


async def test_voiceloop_wyoming_serves_as_a_subprocess(tmp_path, whisper_base_dir):
    port = closed_port()
    config = tmp_path / "voiceloop.yaml"
    config.write_text(f"asr:\n  engine: whisper\n  device: cpu\n  threads: 2\n"
                      f"  whisper:\n    model: {whisper_base_dir}\n"
                      f"tts:\n  edge_proxy: http://127.0.0.1:{closed_port()}\n", encoding="utf-8")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "voiceloop", "wyoming", "--config", str(config), "--uri", f"tcp://127.0.0.1:{port}",
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "VOICELOOP_CONFIG": ""})
    lines: list[str] = []
    try:
        await _wait_for_line(proc.stderr, "ready: wyoming on", lines, timeout_s=120)
        from wyoming.client import AsyncTcpClient

        async with AsyncTcpClient("127.0.0.1", port, connect_timeout=10, read_timeout=30) as client:
            await client.write_event(Describe().event())
            info = Info.from_event(await client.read_event())
        assert info.asr[0].models[0].name == str(whisper_base_dir)
        text = await _transcribe(port, CLIP_1)
        assert cer(text, read_manifest()[CLIP_1]) <= 0.35, text
        proc.send_signal(signal.SIGTERM)
        await _wait_for_line(proc.stderr, "stopped", lines, timeout_s=30)
        assert await asyncio.wait_for(proc.wait(), 30) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert any("4.3 s of audio (zh-cn) ->" in line for line in lines), lines


def test_an_open_address_without_allowed_clients_stops_before_loading_anything():
    result = run_voiceloop("wyoming", "--uri", "tcp://0.0.0.0:10300", timeout=60)
    assert result.returncode == 2, result
    assert "wyoming.uri: tcp://0.0.0.0:10300 listens beyond this machine" in result.stderr
    assert "wyoming.allow_from" in result.stderr and "loading" not in result.stderr


async def test_a_taken_port_is_named_and_run_goes_on_without_wyoming(seaco_asr, seaco_config, caplog):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        cfg = wyoming_config(seaco_config)
        cfg = dataclasses.replace(cfg, wyoming=WyomingConfig(enabled=True, uri=f"tcp://127.0.0.1:{taken.getsockname()[1]}"))
        tts = create_synthesizer(cfg.tts)

        with pytest.raises(VoiceloopError, match="wyoming.uri tcp://127.0.0.1:.*cannot listen there"):
            await WyomingServer(cfg, Engines.shared(cfg, seaco_asr, tts)).start()
        with caplog.at_level(logging.ERROR):
            async with wyoming_alongside(cfg, Engines.shared(cfg, seaco_asr, tts)) as server:
                assert server is None
        assert "wyoming server not started" in caplog.text


class _ThreadNoting:
    """The real engine, noting which thread runs each inference (one scheduler = one worker thread)."""

    def __init__(self, engine):
        self._engine = engine
        self.name = engine.name
        self.threads: list[int] = []

    def transcribe(self, samples, hotwords=(), timestamps=True):
        self.threads.append(threading.get_ident())
        return self._engine.transcribe(samples, hotwords)

    def info(self):
        return self._engine.info()


async def test_inside_run_wyoming_shares_the_dialogues_engine_and_scheduler(tmp_path, whisper_asr, whisper_base_dir):
    asr = _ThreadNoting(whisper_asr)
    port = closed_port()
    room = SimulatedRoom(RoomSpec(speed=1.0), script=[(0.5, decode_file(ZH / CLIP_1))])
    turn_done = asyncio.Event()
    async with OpenAIServer(Script(deltas=("好的。",))) as llm:
        cfg = wyoming_config(whisper_config(whisper_base_dir))
        cfg = dataclasses.replace(
            cfg, llm=LlmConfig(base_url=llm.base_url, model="test-model", first_token_timeout_s=5),
            dialogue=DialogueConfig(turn_log=str(tmp_path / "turns.jsonl")),
            wyoming=WyomingConfig(enabled=True, uri=f"tcp://127.0.0.1:{port}"))
        daemon = asyncio.create_task(serve(cfg, room, asr, on_event=lambda e: isinstance(e, TurnFinished)
                                           and turn_done.set()))
        await _listening(port, timeout_s=10)
        text = await _transcribe(port, CLIP_2)
        await asyncio.wait_for(turn_done.wait(), timeout=60)
        daemon.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await daemon
    refs = read_manifest()
    assert cer(text, refs[CLIP_2]) <= 0.35, text
    heard = [r for r in llm.requests if r.method == "POST"]
    assert heard and cer(heard[0].body["messages"][-1]["content"], refs[CLIP_1]) <= 0.35
    assert len(asr.threads) == 2 and len(set(asr.threads)) == 1, "two schedulers ran inferences side by side"
    with pytest.raises(OSError):  # the server closed with the daemon
        await asyncio.open_connection("127.0.0.1", port)


def test_zeroconf_publishes_the_server_for_home_assistant_and_withdraws_it(seaco_asr, seaco_config):
    """Home Assistant finds Wyoming servers by browsing mDNS for `_wyoming._tcp`; a real zeroconf
    peer looks the service up while the server runs, and no longer after it stops. Server and peer
    run in a network namespace of the test's own, whose only interface is loopback, so no mDNS
    packet reaches the machine's real network."""
    from zeroconf.asyncio import AsyncZeroconf

    from voiceloop.wyoming.discovery import SERVICE_TYPE

    port = 10300  # the namespace has no other listeners
    cfg = dataclasses.replace(wyoming_config(seaco_config), wyoming=WyomingConfig(
        uri=f"tcp://0.0.0.0:{port}", allow_from=("192.0.2.1",), zeroconf=True))
    name = f"voiceloop-{socket.gethostname()}.{SERVICE_TYPE}"

    async def publish_and_browse():
        peer = AsyncZeroconf()
        try:
            with ServerThread(cfg, seaco_asr, create_synthesizer(cfg.tts)):
                info = await peer.async_get_service_info(SERVICE_TYPE, name, timeout=5000)
                assert info is not None and info.port == port
                assert info.parsed_addresses() == ["127.0.0.1"], "the address of the route to the mDNS group"
            await asyncio.sleep(1.5)  # goodbye packets make peers drop the records after 1 s
            assert await peer.async_get_service_info(SERVICE_TYPE, name, timeout=1000) is None
        finally:
            await peer.async_close()

    in_new_netns(lambda: asyncio.run(publish_and_browse()))


async def test_a_unix_socket_serves_local_clients(seaco_asr, seaco_config, tmp_path):
    from wyoming.client import AsyncUnixClient

    path = tmp_path / "wyoming.sock"
    cfg = dataclasses.replace(wyoming_config(seaco_config), wyoming=WyomingConfig(uri=f"unix://{path}"))
    with ServerThread(cfg, seaco_asr, create_synthesizer(cfg.tts)):
        async with AsyncUnixClient(str(path)) as client:
            await client.write_event(Describe().event())
            assert (await asyncio.wait_for(client.read_event(), 10)).type == "info"
    assert not path.exists(), "the socket file is removed on stop"
