"""`POST /v1/audio/transcriptions`, OpenAI-compatible, plus the SeACo `hotwords` extension field.

Any length of audio up to `api.max_audio_s`: the upload is decoded on the API's own decode threads
into a temporary file, cut at pauses as it decodes, and each segment read back and queued on the
shared ASR scheduler behind the spoken dialogue. A full queue or `api.max_transcriptions` uploads
in progress answer 503 before decoding starts; once started, an upload is never refused half-way.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import JSONResponse, PlainTextResponse

from voiceloop.api.context import ApiContext
from voiceloop.api.uploads import decoded_upload
from voiceloop.asr.base import Transcript
from voiceloop.asr.outputs import to_srt, to_vtt, transcript_cues
from voiceloop.asr.segments import transcribe_segments
from voiceloop.engines.hotwords import check_hotwords, split_hotwords

router = APIRouter()

ResponseFormat = Literal["json", "text", "srt", "vtt", "verbose_json"]
_ERRORS = {400: {"description": "unreadable audio or a bad field"}, 401: {"description": "missing or wrong token"},
           413: {"description": "upload over api.max_upload_mb, or audio over api.max_audio_s"},
           503: {"description": "engine busy, or api.max_transcriptions in progress; see Retry-After"}}


@router.post("/v1/audio/transcriptions", responses=_ERRORS, tags=["audio"])
async def create_transcription(
    request: Request,
    file: Annotated[UploadFile, File(description="the recording: wav, mp3, m4a, ogg/opus, webm, flac, ...")],
    model: Annotated[str, Form(max_length=200, description="accepted; the configured engine answers")] = "",
    language: Annotated[str, Form(max_length=20)] = "",
    prompt: Annotated[str, Form(max_length=4000, description="accepted, not used")] = "",
    response_format: Annotated[ResponseFormat, Form()] = "json",
    temperature: Annotated[float, Form(ge=0, le=1, description="accepted, not used")] = 0.0,
    hotwords: Annotated[str, Form(max_length=10000, description="comma- or space-separated words to prefer")] = "",
):
    ctx: ApiContext = request.app.state.ctx
    engines = ctx.engines
    words = engines.hotwords_for(check_hotwords(split_hotwords(hotwords), "hotwords: "))
    engines.asr_jobs.check_room()  # refused now, or never half-way (the segments are admitted)
    with engines.decode.admit():  # or 503 before any of it is decoded
        async with decoded_upload(file.file, _label(file.filename), ctx.cfg.api.max_audio_s,
                                  request.is_disconnected, engines.decode) as (samples, segments):
            transcript = await transcribe_segments(engines, samples, segments, words,
                                                   abandoned=request.is_disconnected)
    ctx.metrics.asr_rtf.labels("api").observe(transcript.rtf)
    return render(transcript, response_format, language or _engine_language(ctx))


def render(t: Transcript, fmt: str, language: str):
    if fmt == "text":
        return PlainTextResponse(t.text + "\n")
    if fmt == "srt":
        return PlainTextResponse(to_srt(transcript_cues(t)))
    if fmt == "vtt":
        return PlainTextResponse(to_vtt(transcript_cues(t)), media_type="text/vtt")
    if fmt == "verbose_json":
        segments = [{"id": i, "seek": 0, "start": s.start_ms / 1000, "end": s.end_ms / 1000, "text": s.text}
                    for i, s in enumerate(transcript_cues(t))]
        return JSONResponse({"task": "transcribe", "language": language, "duration": round(t.duration_s, 3),
                             "text": t.text, "segments": segments, "processing_s": round(t.processing_s, 3),
                             "engine": t.engine, "model": t.model})
    return JSONResponse({"text": t.text})


def _engine_language(ctx: ApiContext) -> str:
    asr = ctx.cfg.asr
    return (asr.whisper.language or "auto") if asr.engine == "whisper" else "zh"


def _label(filename: str | None) -> str:
    """The client's file name for messages only: no directories, printable, short."""
    name = (filename or "upload").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if ch.isprintable())[:100]
    return name or "upload"
