"""`POST /v1/audio/speech`, OpenAI-compatible: the configured voice (with its offline fallback),
spoken sentence by sentence and streamed in the asked format as it is produced.

It speaks with the dialogue's voices as a service caller (`Engines.service_tts`): behind the
dialogue's next clause, with its own Edge-down state, and at most `api.max_syntheses` at once
(one more gets 503 + Retry-After before any audio is made)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Literal

import numpy as np
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from voiceloop.api.context import ApiContext
from voiceloop.api.encode import StreamEncoder
from voiceloop.engines.servicejobs import Ticket
from voiceloop.tts.base import Synthesizer
from voiceloop.tts.speak import Sentence, sentence_audio, speakable_sentences

router = APIRouter()


class SpeechRequest(BaseModel):
    input: str = Field(min_length=1, max_length=4096, description="the text to speak")
    model: str = Field("", max_length=200, description="accepted; the configured voice answers")
    voice: str = Field("", max_length=200, description="accepted; the configured voice answers")
    response_format: Literal["mp3", "wav", "pcm", "opus", "flac"] = "mp3"
    speed: float = Field(1.0, ge=0.25, le=4.0, description="tempo, 0.25-4 (pitch unchanged)")
    instructions: str = Field("", max_length=4096, description="accepted, not used")


@router.post("/v1/audio/speech", tags=["audio"],
             responses={200: {"content": {"audio/mpeg": {}, "audio/wav": {}, "audio/ogg": {}, "audio/flac": {},
                                          "audio/pcm": {}}},
                        400: {"description": "nothing speakable"},
                        503: {"description": "no voice could speak, or api.max_syntheses in progress"}})
async def create_speech(body: SpeechRequest, request: Request) -> StreamingResponse:
    ctx: ApiContext = request.app.state.ctx
    sentences = speakable_sentences(body.input, ctx.cfg.dialogue.first_clause_chars)
    if not sentences:
        raise HTTPException(400, "input: nothing speakable in it (only markup, symbols or whitespace)")
    voice = ctx.engines.service_tts
    ticket = voice.admit()
    try:
        audio = _audio(voice.tts, sentences)
        first = await anext(audio, None)  # fail as a JSON error while no byte has been sent yet
        if first is None:
            raise HTTPException(400, "input: the voice produced no audio for it (nothing it can pronounce)")
    except BaseException:
        ticket.release()
        raise
    encoder = StreamEncoder(body.response_format, speed=body.speed)
    return StreamingResponse(_encoded(encoder, first, audio, ticket), media_type=encoder.media_type)


async def _audio(tts: Synthesizer, sentences: list[Sentence]) -> AsyncIterator[np.ndarray]:
    for sentence in sentences:
        async with aclosing(sentence_audio(tts, sentence)) as chunks:
            async for chunk in chunks:
                yield chunk


async def _encoded(encoder: StreamEncoder, first: np.ndarray, rest: AsyncIterator[np.ndarray],
                   ticket: Ticket) -> AsyncIterator[bytes]:
    with ticket:
        async with aclosing(rest):
            yield encoder.encode(first)
            async for chunk in rest:
                if data := encoder.encode(chunk):
                    yield data
        yield encoder.finish()
