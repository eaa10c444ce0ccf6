"""One model, two users: the spoken dialogue (a simulated room, real time) and the HTTP API on the
same event loop, sharing the one loaded Whisper engine, its scheduler and the hotwords file."""

from __future__ import annotations

import asyncio
import dataclasses

import httpx
import numpy as np

from voiceloop.api.context import ApiContext
from voiceloop.engines import Engines
from voiceloop.api.server import api_server, bind_socket
from voiceloop.asr.base import Transcript
from voiceloop.audio.decode import decode_file
from support.simroom import RoomSpec, SimulatedRoom
from voiceloop.config import ApiConfig, AsrConfig, Config, LlmConfig, TtsConfig, WhisperConfig
from voiceloop.modes.daemon import serve
from voiceloop.engines.hotwords import HotwordStore
from voiceloop.engines.scheduler import EngineScheduler
from voiceloop.tts.fallback import create_synthesizer
from support.audiofiles import write_audio
from support.cer import cer
from support.net import closed_port
from support.openai_server import OpenAIServer, Script
from support.recordings import ZH, read_manifest

USER = "aishell1_BAC009S0764W0121.wav"  # 甚至出现交易几乎停滞的情况
HOTWORDS = ["停滞", "交易"]


class CallLog:
    """The real Whisper engine, noting which hotwords each recognition was given."""

    def __init__(self, engine):
        self._engine = engine
        self.name = engine.name
        self.hotwords: list[tuple[str, ...]] = []

    def transcribe(self, samples: np.ndarray, hotwords: tuple[str, ...] = (), timestamps: bool = True) -> Transcript:
        self.hotwords.append(hotwords)
        return self._engine.transcribe(samples, hotwords)

    def info(self):
        return self._engine.info()


async def test_the_dialogue_answers_while_an_upload_is_transcribed_with_hotwords_set_from_the_api(
        tmp_path, whisper_base_dir):
    from voiceloop.asr.whisper import WhisperEngine

    asr_cfg = AsrConfig(engine="whisper", device="cpu", threads=1, hotwords_file=str(tmp_path / "hotwords.txt"),
                        whisper=WhisperConfig(model=str(whisper_base_dir), beam_size=1))
    asr = CallLog(WhisperEngine(asr_cfg))
    gap = np.zeros(8000, np.float32)
    upload = write_audio(tmp_path / "upload.flac", np.concatenate(
        [p for f in sorted(ZH.glob("aishell1_*.wav")) * 2 for p in (decode_file(f), gap)]), 16000)
    room = SimulatedRoom(RoomSpec(speed=1.0, duration_s=14.0, echo_gain_db=-6.0),
                         script=[(2.0, decode_file(ZH / USER))])
    async with OpenAIServer(Script(deltas=("好的。",), first_token_delay_s=0.1)) as llm:
        cfg = Config(asr=asr_cfg, llm=LlmConfig(base_url=llm.base_url, model="test-model"),
                     tts=TtsConfig(edge_proxy=f"http://127.0.0.1:{closed_port()}", edge_retry_s=600),
                     api=ApiConfig(port=0))
        cfg = dataclasses.replace(cfg, dialogue=dataclasses.replace(cfg.dialogue, turn_log=str(tmp_path / "t.jsonl")))
        engines = Engines(asr, EngineScheduler("asr"), create_synthesizer(cfg.tts), HotwordStore(asr_cfg.hotwords_file))
        ctx = ApiContext(cfg, engines, mode="run")
        async with api_server(ctx, bind_socket(cfg.api)) as url, httpx.AsyncClient(base_url=url, timeout=120) as http:
            assert (await http.put("/api/hotwords", json={"hotwords": HOTWORDS})).status_code == 200
            transcription = asyncio.create_task(http.post(
                "/v1/audio/transcriptions", files={"file": ("upload.flac", upload.read_bytes())}))
            await asyncio.wait_for(serve(cfg, room, asr, on_event=ctx.on_event, engines=engines), timeout=60)
            response = await transcription
            status = (await http.get("/status")).json()

    assert response.status_code == 200 and response.json()["text"]
    said = [r.body["messages"][-1]["content"] for r in llm.requests if r.method == "POST"]
    assert len(said) == 1 and cer(said[0], read_manifest()[USER]) <= 0.35, said
    assert [t["user_text"] for t in status["recent_turns"]] == said
    # every recognition, the dialogue's and the upload's segments, used the hotwords set over HTTP
    assert len(asr.hotwords) >= 4 and set(asr.hotwords) == {tuple(HOTWORDS)}
    assert status["asr"]["jobs"]["jobs_done"] == len(asr.hotwords)
