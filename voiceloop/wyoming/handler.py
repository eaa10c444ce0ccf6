"""One Wyoming connection: `describe`, speech-to-text and text-to-speech events in, answers out.

Framing is the `wyoming` package's (`AsyncEventHandler`); this class only decides what each event
means. Every connection is its own task, so a client that misbehaves or vanishes ends only its own
connection. Recognition runs through the engine's shared scheduler at service priority, behind
the person talking to the desk: a stream is cut at pauses into segments of at most 4 s (on the
decode threads), each its own job, so the desk waits for one segment at most. Streams in
recognition (`api.max_transcriptions`) and answers being spoken (`api.max_syntheses`) are bounded;
one more gets `busy` before any work is done for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import numpy as np
from wyoming.asr import Transcribe, Transcript
from wyoming.audio import AudioChunk, AudioStart
from wyoming.error import Error
from wyoming.event import Event
from wyoming.info import Info, SelectProgram
from wyoming.ping import Ping, Pong
from wyoming.server import AsyncEventHandler
from wyoming.tts import Synthesize, SynthesizeChunk, SynthesizeStart, SynthesizeStop, SynthesizeStopped

from voiceloop.asr.segments import Abandoned, split_at_pauses, transcribe_segments
from voiceloop.audio.frames import SAMPLE_RATE
from voiceloop.engines import Engines
from voiceloop.errors import TtsError
from voiceloop.engines.scheduler import EngineBusy
from voiceloop.engines.servicejobs import Ticket
from voiceloop.wyoming.describe import PROGRAM, Voice
from voiceloop.wyoming.framing import FramingError, read_event
from voiceloop.wyoming.language import ScriptConverter
from voiceloop.wyoming.pcm import PcmDecoder, check_format
from voiceloop.wyoming.requests import AsrRequest, ProtocolError, check_text_length, check_voice, parse_transcribe
from voiceloop.wyoming.speech import SpeechStream

log = logging.getLogger(__name__)

INLINE_BYTES = 64 * 1024  # bigger audio chunks are converted in a worker thread, off the event loop
LINGER_S = 30.0  # after an error that ends the connection: how long what the client still sends is drained

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class ConnectionSlots:
    """How many connections are served at once (`wyoming.max_connections`); the loop's only, no lock."""

    def __init__(self, limit: int):
        self.limit = limit
        self.used = 0

    def take(self) -> bool:
        if self.used >= self.limit:
            return False
        self.used += 1
        return True

    def give(self) -> None:
        self.used -= 1


@dataclass(frozen=True, slots=True)
class Services:
    """What every connection shares: the loaded engines, their scheduler, and the fixed answers."""

    engines: Engines
    info: Info
    voice: Voice
    asr_languages: tuple[str, ...]
    script: ScriptConverter
    max_audio_bytes: int
    first_clause_chars: int
    allow_from: tuple[Network, ...] = ()
    idle_timeout_s: float = 60.0
    slots: ConnectionSlots = field(default_factory=lambda: ConnectionSlots(32))

    def allowed(self, peer: object) -> bool:
        """Loopback and unix-socket peers always; others only from `wyoming.allow_from`."""
        if not isinstance(peer, tuple) or not peer:
            return True  # unix socket
        try:
            address = ipaddress.ip_address(str(peer[0]).split("%")[0])
        except ValueError:
            return False
        if getattr(address, "ipv4_mapped", None):
            address = address.ipv4_mapped
        return address.is_loopback or any(address in net for net in self.allow_from)


class _AudioStream:
    """The audio of one `audio-start` .. `audio-stop`, converted as it arrives and bounded in size."""

    def __init__(self, start: AudioStart, request: AsrRequest, max_bytes: int):
        self.request = request
        self.format = (start.rate, start.width, start.channels)
        self._decoder = PcmDecoder(*self.format)
        self._parts: list[np.ndarray] = []
        self._max_bytes = max_bytes
        self.received = 0
        self.converted = 0  # 16 kHz samples so far

    def add(self, chunk: AudioChunk) -> None:
        if (chunk.rate, chunk.width, chunk.channels) != self.format:
            raise ProtocolError("format-changed", f"audio-chunk is {chunk.rate} Hz/{chunk.width} bytes/"
                                f"{chunk.channels} ch but audio-start said {self.format[0]} Hz/{self.format[1]} "
                                f"bytes/{self.format[2]} ch; one stream must keep one format", close=True)
        self.received += len(chunk.audio)
        if self.received > self._max_bytes:
            raise ProtocolError("too-much-audio", f"more than {self._max_bytes / 2**20:g} MiB of audio in one "
                                f"stream (api.max_upload_mb); send one utterance per audio-start", close=True)
        self._keep(self._decoder.push(chunk.audio))

    def samples(self) -> np.ndarray:
        self._keep(self._decoder.finish())
        return np.concatenate(self._parts) if self._parts else np.zeros(0, np.float32)

    def _keep(self, samples: np.ndarray) -> None:
        """At most 8 bytes of samples per byte received (8 kHz 8-bit is the least a stream may be)."""
        self.converted += samples.size
        self._parts.append(samples)


class WyomingHandler(AsyncEventHandler):
    def __init__(self, services: Services, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        super().__init__(reader, writer)
        self._s = services
        self._address = writer.get_extra_info("peername")
        self._peer = (f"{self._address[0]}:{self._address[1]}" if isinstance(self._address, tuple)
                      else "a unix-socket client")
        self._request = AsrRequest()
        self._audio: _AudioStream | None = None
        self._speech: SpeechStream | None = None
        self._speaking: Ticket | None = None  # the streamed answer's place among `api.max_syntheses`
        self._routes: dict[str, Callable[[Event], Awaitable[bool]]] = {
            "describe": self._describe, "ping": self._ping, "select-program": self._select_program,
            "transcribe": self._transcribe,
            "audio-start": self._audio_start, "audio-chunk": self._audio_chunk, "audio-stop": self._audio_stop,
            "synthesize": self._synthesize, "synthesize-start": self._synthesize_start,
            "synthesize-chunk": self._synthesize_chunk, "synthesize-stop": self._synthesize_stop,
        }

    async def run(self) -> None:
        """Serve the connection; nothing escapes (the `wyoming` server never awaits this task)."""
        if not self._s.allowed(self._address):
            log.warning("wyoming: refused a connection from %s: not in wyoming.allow_from", self._peer)
            self.writer.close()
            return
        if not self._s.slots.take():
            log.warning("wyoming: refused %s: already serving %d connections (wyoming.max_connections)",
                        self._peer, self._s.slots.limit)
            with contextlib.suppress(ConnectionError):
                await self._error("busy", f"this server already serves {self._s.slots.limit} connections "
                                          "(wyoming.max_connections); retry later")
            self.writer.close()
            return
        try:
            await self._serve()
        except (ConnectionError, asyncio.IncompleteReadError) as exc:
            log.info("wyoming: %s went away (%s)", self._peer, type(exc).__name__)
        except Exception:  # noqa: BLE001 - one connection's failure is logged, never lost in the task
            log.exception("wyoming: %s: the connection failed", self._peer)
        finally:
            self._s.slots.give()
            await self.disconnect()
            self.writer.close()

    async def _serve(self) -> None:
        """Read events until the client leaves or an answer ends the connection. Each event must
        arrive whole within `wyoming.idle_timeout_s`, so a stalled or trickling client is let go."""
        self._is_running = True
        while self._is_running:
            try:
                async with asyncio.timeout(self._s.idle_timeout_s):
                    event = await read_event(self.reader, self._s.max_audio_bytes)
            except TimeoutError:
                log.info("wyoming: %s sent no whole event for %.0f s (wyoming.idle_timeout_s); closing",
                         self._peer, self._s.idle_timeout_s)
                return
            except FramingError as exc:
                log.info("wyoming: %s: %s", self._peer, exc)
                await self._error(exc.code, str(exc))
                await self._linger()
                return
            if event is None or not await self.handle_event(event):
                return

    async def disconnect(self) -> None:
        if self._audio is not None:
            log.info("wyoming: %s left mid-stream; dropped %.1f s of audio", self._peer,
                     self._audio.converted / SAMPLE_RATE)
            self._audio = None
        self._end_speech()

    def _end_speech(self) -> None:
        self._speech = None
        if self._speaking is not None:
            self._speaking.release()
            self._speaking = None

    async def handle_event(self, event: Event) -> bool:
        route = self._routes.get(event.type)
        try:
            if route is None:
                raise ProtocolError("unknown-event", f"unknown event type {event.type!r}; this server handles "
                                                     f"{', '.join(self._routes)}")
            return await route(event)
        except ConnectionError:
            raise
        except ProtocolError as exc:
            log.info("wyoming: %s: %s", self._peer, exc)
            await self._error(exc.code, str(exc))
            if exc.close:
                await self._linger()
            return not exc.close
        except EngineBusy as exc:
            await self._error("busy", str(exc))
            return True
        except TtsError as exc:
            await self._error("tts-failed", str(exc))
            return True
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            await self._error("bad-event", f"malformed {event.type} event: {type(exc).__name__} {exc}")
            return True
        except Exception as exc:  # noqa: BLE001 - an engine failure ends this request, not the server
            log.exception("wyoming: %s: %s failed", self._peer, event.type)
            await self._error("internal-error", f"{event.type} failed: {type(exc).__name__}: {exc}")
            return True

    async def _error(self, code: str, text: str) -> None:
        await self.write_event(Error(text=text, code=code).event())

    async def _linger(self) -> None:
        """End our side, then read and drop what the client still sends until it closes (at most
        `LINGER_S`). A streaming client (Home Assistant sends the microphone as it comes) is
        usually still writing when the error goes out; closing with its chunks unread resets the
        connection, and the reset can destroy the error before the client reads it."""
        if self.writer.can_write_eof():
            self.writer.write_eof()
        try:
            async with asyncio.timeout(LINGER_S):
                while await self.reader.read(1 << 16):
                    pass
        except TimeoutError:
            log.info("wyoming: %s still sending %.0f s after its error; closing", self._peer, LINGER_S)

    async def _describe(self, event: Event) -> bool:
        await self.write_event(self._s.info.event())
        return True

    async def _ping(self, event: Event) -> bool:
        await self.write_event(Pong(text=Ping.from_event(event).text).event())
        return True

    async def _select_program(self, event: Event) -> bool:
        name = SelectProgram.from_event(event).name
        if name != PROGRAM:
            raise ProtocolError("unknown-program", f"select-program: no program {name!r} here; this server "
                                                   f"has one, {PROGRAM!r}, for speech-to-text and text-to-speech")
        return True

    # ----- speech to text ------------------------------------------------------------------------

    async def _transcribe(self, event: Event) -> bool:
        self._request = parse_transcribe(Transcribe.from_event(event), self._s.asr_languages)
        return True

    async def _audio_start(self, event: Event) -> bool:
        start = AudioStart.from_event(event)
        problem = check_format(start.rate, start.width, start.channels)
        if problem:
            raise ProtocolError("bad-audio-format", f"audio-start: {problem}", close=True)
        self._audio = _AudioStream(start, self._request, self._s.max_audio_bytes)
        self._request = AsrRequest()
        return True

    async def _audio_chunk(self, event: Event) -> bool:
        if self._audio is None:
            raise ProtocolError("no-audio-start", "audio-chunk without audio-start: send transcribe (optional), "
                                                  "audio-start, the audio-chunks, then audio-stop", close=True)
        chunk = AudioChunk.from_event(event)
        try:
            if len(chunk.audio) > INLINE_BYTES:
                await self._s.engines.decode.run(self._audio.add, chunk)
            else:
                self._audio.add(chunk)
        except ProtocolError:
            self._audio = None
            raise
        return True

    async def _audio_stop(self, event: Event) -> bool:
        audio, self._audio = self._audio, None
        if audio is None:
            raise ProtocolError("no-audio-start", "audio-stop without audio-start", close=True)
        started = time.perf_counter()
        engines = self._s.engines
        engines.asr_jobs.check_room()  # busy now, or never half-way (the segments are admitted)
        with engines.decode.admit():
            samples = audio.samples()
            try:
                segments = await engines.decode.run(split_at_pauses, samples)
                result = await transcribe_segments(engines, samples, segments,
                                                   engines.hotwords_for(audio.request.hotwords), timestamps=False,
                                                   abandoned=self._hung_up)
            except Abandoned as exc:
                log.info("wyoming: %s hung up waiting for its transcript; %s", self._peer, exc)
                return False
            except Exception as exc:  # noqa: BLE001 - an engine failure ends this request, not the server
                log.exception("wyoming: recognition failed for %s", self._peer)
                raise ProtocolError("asr-failed", f"recognition failed: {type(exc).__name__}: {exc}") from exc
        text = self._s.script.convert(result.text.strip(), audio.request.language)
        log.info("wyoming: %s: %.1f s of audio (%s) -> %r in %.2f s", self._peer, samples.size / SAMPLE_RATE,
                 audio.request.language, text, time.perf_counter() - started)
        await self.write_event(Transcript(text=text, language=audio.request.language).event())
        return True

    async def _hung_up(self) -> bool:
        """The client closed its side: nobody will read the transcript, so its segments stop costing
        engine time. (A client that half-closes and still reads is not a Wyoming client.)"""
        await asyncio.sleep(0)  # let a pending end-of-stream reach the reader first
        return self.reader.at_eof()

    # ----- text to speech ------------------------------------------------------------------------

    def _new_speech(self) -> SpeechStream:
        return SpeechStream(self._s.engines.service_tts.tts, self.write_event, self._s.first_clause_chars)

    async def _synthesize(self, event: Event) -> bool:
        if self._speech is not None:
            return True  # the full text Home Assistant also sends during a stream, for older servers
        request = Synthesize.from_event(event)
        check_text_length(request.text, 0, "synthesize")
        check_voice(request.voice, self._s.voice.name, self._s.voice.languages, "synthesize")
        with self._s.engines.service_tts.admit():
            speech = self._new_speech()
            await speech.push(request.text)
            await speech.finish()
        return True

    async def _synthesize_start(self, event: Event) -> bool:
        request = SynthesizeStart.from_event(event)
        check_voice(request.voice, self._s.voice.name, self._s.voice.languages, "synthesize-start")
        self._end_speech()
        self._speaking = self._s.engines.service_tts.admit()
        self._speech = self._new_speech()
        return True

    async def _synthesize_chunk(self, event: Event) -> bool:
        if self._speech is None:
            raise ProtocolError("no-synthesize-start", "synthesize-chunk without synthesize-start")
        text = SynthesizeChunk.from_event(event).text
        try:
            check_text_length(text, self._speech.chars, "synthesize-chunk")
        except ProtocolError:
            self._end_speech()
            raise
        await self._speech.push(text)
        return True

    async def _synthesize_stop(self, event: Event) -> bool:
        SynthesizeStop.from_event(event)
        speech = self._speech
        if speech is None:
            raise ProtocolError("no-synthesize-start", "synthesize-stop without synthesize-start")
        try:
            await speech.finish()
        except TtsError as exc:
            await self._error("tts-failed", str(exc))
        finally:
            self._end_speech()
        await self.write_event(SynthesizeStopped().event())
        return True
