"""Offline voice: espeak-ng reading tone-numbered pinyin, run as a subprocess per sentence.

Robotic but intelligible and always there: the voice the assistant falls back to when Edge TTS
cannot be reached, so the user still hears the answer (or the apology).
"""

from __future__ import annotations

import asyncio
import logging
import struct
from collections.abc import AsyncIterator

import numpy as np

from voiceloop.audio.frames import SAMPLE_RATE, resample, to_mono
from voiceloop.config import TtsConfig
from voiceloop.errors import TtsError
from voiceloop.tts.normalize import for_speech
from voiceloop.tts.pinyin import to_pinyin

BINARY = "espeak-ng"
REAP_S = 1.0  # how long a cancelled turn waits for the killed espeak-ng to be reported gone

log = logging.getLogger(__name__)


# espeak-ng's voice peaks at (and past) full scale; 3 dB down keeps it off the clip level and close
# to Edge's loudness (about -20 dBFS active speech), so the speaker volume needs no retuning.
_OUTPUT_GAIN = np.float32(0.7)


class EspeakSynthesizer:
    """`Synthesizer` over ``espeak-ng --stdout``; yields each sentence as one chunk (~50 ms to make)."""

    name = "espeak"

    def __init__(self, cfg: TtsConfig, binary: str = BINARY):
        self._voice = cfg.espeak_voice
        self._speed = cfg.espeak_speed
        self._binary = binary

    async def synthesize(self, text: str) -> AsyncIterator[np.ndarray]:
        spoken = await asyncio.to_thread(self._prepare, text)
        if not spoken:
            return
        wav = await self._run(spoken)
        pcm = await asyncio.to_thread(wav_to_pcm, wav)
        if pcm.size:
            yield pcm * _OUTPUT_GAIN

    def _prepare(self, text: str) -> str:
        """What espeak-ng is given; "" when there is nothing to pronounce (only punctuation)."""
        if self._voice.lower().startswith(("cmn", "zh")):
            text = for_speech(text)
        spoken = to_pinyin(text) if self._voice.lower().startswith("cmn-latn-pinyin") else text.strip()
        return spoken if any(ch.isalnum() for ch in spoken) else ""

    async def _run(self, text: str) -> bytes:
        argv = [self._binary, "-v", self._voice, "-s", str(self._speed), "--stdout"]
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE)
        except FileNotFoundError:
            raise TtsError(f"{self._binary} is not installed; install it with `apt-get install espeak-ng` "
                           "(the offline voice, tts.fallback: espeak)") from None
        try:
            out, err = await proc.communicate(text.encode("utf-8"))
        except BaseException:
            if proc.returncode is None:  # cancelled (barge-in): do not leave it running
                proc.kill()
                await _reaped(proc)
            raise
        if proc.returncode != 0:
            reason = err.decode("utf-8", "replace").strip()[:200] or f"exit status {proc.returncode}"
            raise TtsError(f"espeak-ng failed: {reason} (tts.espeak_voice={self._voice!r}; "
                           "`espeak-ng --voices=cmn` lists voices)")
        return out


async def _reaped(proc: asyncio.subprocess.Process) -> None:
    """Wait for the killed process, but not forever: asyncio (3.11) reports a child's exit only once
    every pipe to it is closed, and a process that inherited one (a helper it started) keeps it
    open; the barge-in that cancelled this sentence must not hang on that."""
    try:
        await asyncio.wait_for(proc.wait(), REAP_S)
    except TimeoutError:
        log.warning("espeak-ng (pid %s) was killed, but a pipe to it is still held open by another process; "
                    "not waiting for it", proc.pid)


def wav_to_pcm(wav: bytes) -> np.ndarray:
    """16 kHz mono float32 from espeak's WAV; its streamed header has placeholder sizes, so the
    data chunk is taken to run to the end of the output."""
    if wav[:4] != b"RIFF" or wav[8:12] != b"WAVE":
        raise TtsError("espeak-ng produced no WAV audio")
    pos, rate, channels, bits = 12, 0, 1, 16
    while pos + 8 <= len(wav):
        tag, size = wav[pos:pos + 4], struct.unpack_from("<I", wav, pos + 4)[0]
        if tag == b"fmt ":
            _, channels, rate, _, _, bits = struct.unpack_from("<HHIIHH", wav, pos + 8)
        elif tag == b"data":
            if bits != 16 or not rate:
                raise TtsError(f"espeak-ng produced unexpected WAV ({bits}-bit, {rate} Hz)")
            body = wav[pos + 8:]
            body = body[:len(body) - len(body) % (2 * channels)]
            samples = np.frombuffer(body, dtype="<i2").reshape(-1, channels)
            return resample(to_mono(samples), rate, SAMPLE_RATE)
        pos += 8 + size + (size & 1)
    raise TtsError("espeak-ng WAV output has no data chunk")
