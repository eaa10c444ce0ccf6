"""Read one Wyoming event, refusing what the `wyoming` package would read without limit.

An event is a JSON header line, then `data_length` bytes of JSON and `payload_length` bytes of
payload. `wyoming.event.async_read_event` reads whatever lengths the header declares before the
handler sees the event, so one header claiming 4 GB makes the server try to hold 4 GB. Here the
header is checked first: a length over its cap is refused before one byte of it is read, and a
header that is not an event gets a clear error instead of an exception nobody retrieves.
"""

from __future__ import annotations

import asyncio
import json

from wyoming.event import Event

MAX_DATA_BYTES = 256 * 1024  # an event's JSON data: 10,000 characters of text and its fields fit easily


class FramingError(Exception):
    """The bytes are not a Wyoming event this server will read; the connection cannot go on."""

    def __init__(self, code: str, text: str):
        super().__init__(text)
        self.code = code


async def read_event(reader: asyncio.StreamReader, max_payload: int) -> Event | None:
    """The next event, or None at the end of the stream. Raises `FramingError` for a header that
    is malformed or declares more than `max_payload` payload bytes, `asyncio.IncompleteReadError`
    when the client hangs up inside an event."""
    try:
        line = await reader.readline()
    except ValueError:  # longer than the reader's limit (64 KiB) without a line break
        raise FramingError("event-too-large", "an event header line is longer than 64 KiB; a Wyoming "
                                              "header is one short line of JSON") from None
    if not line.endswith(b"\n"):
        return None  # the end of the stream, perhaps inside a line
    header = _header(line)
    kind = header["type"]
    data_length = _length(header, kind, "data_length", MAX_DATA_BYTES, "the event's JSON data")
    payload_length = _length(header, kind, "payload_length", max_payload,
                             "the raw audio of a whole stream, api.max_upload_mb")
    data = header.get("data") or {}
    if not isinstance(data, dict):
        raise FramingError("bad-framing", f"{kind} event: `data` must be a JSON object")
    if data_length:
        extra = _json(await reader.readexactly(data_length), f"{kind} event: its data")
        if not isinstance(extra, dict):
            raise FramingError("bad-framing", f"{kind} event: its data must be a JSON object")
        data = {**data, **extra}
    payload = await reader.readexactly(payload_length) if payload_length else None
    return Event(type=kind, data=data, payload=payload)


def _header(line: bytes) -> dict:
    header = _json(line, "the event header")
    if not isinstance(header, dict) or not isinstance(header.get("type"), str) or not header["type"]:
        raise FramingError("bad-framing", "not a Wyoming event: a header must be a JSON object with a `type`")
    return header


def _json(raw: bytes, what: str) -> object:
    try:
        return json.loads(raw)
    except ValueError:  # also bad UTF-8
        raise FramingError("bad-framing", f"not a Wyoming event: {what} is not JSON "
                                          f"(it starts {raw[:40]!r})") from None


def _length(header: dict, kind: str, key: str, cap: int, what: str) -> int:
    value = header.get(key)
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise FramingError("bad-framing", f"{kind} event: {key} must be a whole number of bytes, got {value!r}")
    if value > cap:
        raise FramingError("event-too-large", f"{kind} event: {key} is {value} bytes, over the {cap} this "
                                              f"server reads for {what}; nothing of it was read")
    return value
