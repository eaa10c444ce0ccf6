"""Fan the assistant's turn events out to event-stream subscribers, and remember the recent ones.

`publish` is the `Assistant`'s `on_event` callback: it runs on the event loop, never blocks, and a
slow subscriber loses its oldest events rather than holding anyone up.
"""

from __future__ import annotations

import asyncio
import collections
import json
import time
from collections.abc import AsyncIterator
from typing import Any

from voiceloop.dialogue.events import AssistantEvent, StateChanged, TurnFinished

RECENT_TURNS = 20
_QUEUE = 100


def event_json(event: AssistantEvent) -> dict[str, Any]:
    """The wire form of an event: `state` or `turn`, with wall-clock `time`."""
    if isinstance(event, StateChanged):
        return {"type": "state", "state": event.state.value, "turn": event.turn, "time": time.time()}
    if isinstance(event, TurnFinished):
        return {"type": "turn", "time": time.time(), **json.loads(event.record.to_json())}
    raise TypeError(f"unknown assistant event {type(event).__name__}")


class EventHub:
    def __init__(self) -> None:
        self._subscribers: set[asyncio.Queue[dict | None]] = set()
        self._recent: collections.deque[dict] = collections.deque(maxlen=RECENT_TURNS)
        self.state: dict[str, Any] | None = None  # the last `state` event
        self.closed = False

    def publish(self, event: AssistantEvent) -> None:
        doc = event_json(event)
        if doc["type"] == "state":
            self.state = doc
        else:
            self._recent.append(doc)
        for queue in self._subscribers:
            if queue.full():
                queue.get_nowait()
            queue.put_nowait(doc)

    def recent_turns(self) -> list[dict]:
        return list(self._recent)

    def close(self) -> None:
        """End every stream (server shutdown)."""
        self.closed = True
        for queue in self._subscribers:
            if queue.full():
                queue.get_nowait()
            queue.put_nowait(None)

    async def stream(self, keepalive_s: float = 15.0) -> AsyncIterator[str]:
        """Server-sent events: the current state first, then each event; a comment line as keep-alive."""
        queue: asyncio.Queue[dict | None] = asyncio.Queue(maxsize=_QUEUE)
        self._subscribers.add(queue)
        try:
            yield "retry: 2000\n\n"
            if self.state is not None:
                yield _sse(self.state)
            while not self.closed:
                try:
                    doc = await asyncio.wait_for(queue.get(), keepalive_s)
                except TimeoutError:
                    yield ": keep-alive\n\n"
                    continue
                if doc is None:
                    return
                yield _sse(doc)
        finally:
            self._subscribers.discard(queue)


def _sse(doc: dict) -> str:
    return f"event: {doc['type']}\ndata: {json.dumps(doc, ensure_ascii=False)}\n\n"
