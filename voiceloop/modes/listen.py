"""`voiceloop listen`: live dictation, one line per utterance. The quickest check of mic, AEC and hotwords."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time
from pathlib import Path
from typing import TextIO

import numpy as np

from voiceloop.asr.base import AsrEngine
from voiceloop.audio.frontend import FrontEnd, frontend_events
from voiceloop.audio.port import DUCK_GAIN, AudioPort
from voiceloop.audio.speech import (
    FrontEndEvent,
    SpeechDiscarded,
    SpeechPossible,
    SpeechRejected,
    SpeechStarted,
    Utterance,
)
from voiceloop.config import Config
from voiceloop.lifecycle import run_until_signal

log = logging.getLogger("voiceloop.listen")


async def listen(cfg: Config, port: AudioPort, asr: AsrEngine, out: TextIO, json_lines: bool = False,
                 play: np.ndarray | None = None) -> None:
    """Print each utterance as recognised; recognition runs beside capture so no audio is dropped.

    Returns when the port's frames end (after the last utterance is printed) or when cancelled.
    """
    utterances: asyncio.Queue[Utterance | None] = asyncio.Queue(maxsize=32)
    async with asyncio.TaskGroup() as group:
        group.create_task(_recognise(asr, utterances, out, json_lines))
        if play is not None:
            group.create_task(port.play(play))
        async for event in frontend_events(port.frames(), FrontEnd(cfg)):
            if play is not None:
                _duck_under(port, event)
            if isinstance(event, Utterance):
                await utterances.put(event)
        await utterances.put(None)


async def _recognise(asr: AsrEngine, utterances: asyncio.Queue[Utterance | None], out: TextIO,
                     json_lines: bool) -> None:
    while (utt := await utterances.get()) is not None:
        transcript = await asyncio.to_thread(asr.transcribe, utt.samples, timestamps=False)
        if not transcript.text:
            continue
        duration = utt.end_t - utt.start_t
        if json_lines:
            out.write(json.dumps({"time": time.strftime("%H:%M:%S"), "start_s": round(utt.start_t, 3),
                                  "duration_s": round(duration, 3), "text": transcript.text,
                                  "asr_s": round(transcript.processing_s, 3)}, ensure_ascii=False) + "\n")
        else:
            out.write(f"{time.strftime('%H:%M:%S')}  {duration:5.1f}s  {transcript.text}\n")
        out.flush()


def _duck_under(port: AudioPort, event: FrontEndEvent) -> None:
    """What `--play` plays is turned down while someone speaks over it (from the first sign of speech
    to the end of the utterance), so less of it is left in the words that reach recognition."""
    if isinstance(event, SpeechPossible | SpeechStarted):
        port.duck(DUCK_GAIN)
    elif isinstance(event, SpeechRejected | SpeechDiscarded | Utterance):
        port.duck(1.0)


def listen_main(cfg: Config, json_lines: bool = False, play: str | None = None) -> int:
    """Decode `play` and load the model first (a bad file fails before anything opens), then listen."""
    from voiceloop.asr import create_engine
    from voiceloop.audio.decode import decode_file

    samples = decode_file(Path(play)) if play else None
    asr = create_engine(cfg.asr)
    return run_until_signal(lambda: _main(cfg, asr, json_lines, samples), log)


async def _main(cfg: Config, asr: AsrEngine, json_lines: bool, samples: np.ndarray | None) -> int:
    from voiceloop.audio.devices import SoundDevicePort

    port = SoundDevicePort(cfg.audio)
    log.info("listening (Ctrl-C to stop)")
    try:
        await listen(cfg, port, asr, sys.stdout, json_lines, samples)
    finally:
        await port.aclose()
    return 0
