"""Server-sent events, decoded line by line (the wire format of OpenAI-style streaming).

Follows the WHATWG event-stream rules that matter for chat streams: ``data:`` fields of one event
are joined with newlines, lines starting with ``:`` are comments (keep-alive pings), one space
after the colon is dropped, a blank line ends the event, and an event cut off by the end of the
stream is discarded rather than half-parsed.
"""

from __future__ import annotations


class SseDecoder:
    """Feed lines (without their line ending); get back the data of each completed event."""

    def __init__(self) -> None:
        self._data: list[str] = []

    def feed(self, line: str) -> str | None:
        """The event's data when `line` completes an event that carried data, else None."""
        if not line:
            if not self._data:
                return None
            data = "\n".join(self._data)
            self._data = []
            return data
        if line.startswith(":"):
            return None
        name, sep, value = line.partition(":")
        if sep and value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
        # event, id, retry and unknown fields carry nothing a chat stream needs.
        return None

    @property
    def pending(self) -> bool:
        """True when the stream ended inside an event (its data is lost)."""
        return bool(self._data)
