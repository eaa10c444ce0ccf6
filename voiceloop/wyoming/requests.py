"""What a client asks for, checked: the transcription language and hotwords, the voice.

Every problem becomes a `ProtocolError` whose text names the event, the field and the fix; the
handler sends it as a Wyoming `error` event.
"""

from __future__ import annotations

from dataclasses import dataclass

from wyoming.asr import Transcribe
from wyoming.tts import SynthesizeVoice

from voiceloop.wyoming.language import normalise

DEFAULT_LANGUAGE = "zh-cn"  # what a stream without `transcribe` (or without a language) is taken to be
MAX_HOTWORDS = 200
MAX_HOTWORD_CHARS = 32
MAX_TEXT_CHARS = 10_000  # of one answer to speak: minutes of speech; more is a mistake or an attack


class ProtocolError(Exception):
    """Bad input from a client. `close`: also end the connection (its stream cannot continue)."""

    def __init__(self, code: str, text: str, close: bool = False):
        super().__init__(text)
        self.code = code
        self.close = close


@dataclass(frozen=True, slots=True)
class AsrRequest:
    """Options for the next audio stream; a stream without `transcribe` gets the defaults."""

    language: str = DEFAULT_LANGUAGE
    hotwords: tuple[str, ...] = ()


def parse_transcribe(request: Transcribe, languages: tuple[str, ...]) -> AsrRequest:
    language = request.language or DEFAULT_LANGUAGE
    if not isinstance(language, str) or normalise(language) not in languages:
        raise ProtocolError("unsupported-language",
                            f"transcribe: language {language!r} is not supported; choose one of "
                            f"{', '.join(languages)} (zh-cn answers in Simplified, zh-tw/zh-hk in Traditional)")
    return AsrRequest(normalise(language), _hotwords(request))


def _hotwords(request: Transcribe) -> tuple[str, ...]:
    """Hotwords from Wyoming's `transcript_names` and `transcript_terms`, and from `context.hotwords`
    (voiceloop's extension, for clients older than those fields)."""
    context = request.context
    if context is not None and not isinstance(context, dict):
        raise ProtocolError("bad-hotwords", f"transcribe: context must be a mapping, got {type(context).__name__}")
    words: list[str] = []
    for field, value in (("transcript_names", request.transcript_names),
                         ("transcript_terms", request.transcript_terms),
                         ("context.hotwords", (context or {}).get("hotwords"))):
        words += _words(field, value)
    if len(words) > MAX_HOTWORDS:
        raise ProtocolError("bad-hotwords", f"transcribe: {len(words)} hotwords; at most {MAX_HOTWORDS} are allowed")
    return tuple(dict.fromkeys(words))


def _words(field: str, value: object) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        value = value.replace("，", ",").replace(",", " ").split()
    if not isinstance(value, list) or not all(isinstance(w, str) for w in value):
        raise ProtocolError("bad-hotwords", f"transcribe: {field} must be a list of words, e.g. [\"客厅灯\", \"空调\"]")
    words = [w.strip() for w in value if w.strip()]
    long = [w for w in words if len(w) > MAX_HOTWORD_CHARS]
    if long:
        raise ProtocolError("bad-hotwords", f"transcribe: hotword {long[0][:40]!r} in {field} is longer than "
                                            f"{MAX_HOTWORD_CHARS} characters; give names and terms, not sentences")
    return words


def check_voice(voice: SynthesizeVoice | None, name: str, languages: tuple[str, ...], event: str) -> None:
    """The request may name our voice or one of its languages, or nothing; anything else is an error."""
    if voice is None:
        return
    if voice.name is not None and voice.name != name:
        raise ProtocolError("unknown-voice", f"{event}: voice {voice.name!r} is not served here; "
                                             f"this server speaks with {name!r}")
    if voice.language is not None and normalise(str(voice.language)) not in languages:
        raise ProtocolError("unsupported-language", f"{event}: language {voice.language!r} is not spoken here; "
                                                    f"choose one of {', '.join(languages)}")


def check_text_length(text: object, before: int, event: str) -> None:
    """Refuse text to speak once the answer (`before` characters so far, plus `text`) passes the cap."""
    if isinstance(text, str) and before + len(text) > MAX_TEXT_CHARS:
        raise ProtocolError("text-too-long", f"{event}: the text to speak is over {MAX_TEXT_CHARS} characters; "
                                             "send a shorter answer", close=event != "synthesize")
