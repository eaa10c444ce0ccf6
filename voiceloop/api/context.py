"""What the HTTP API serves from: the shared engines and the daemon's observable state.

One `ApiContext` per app; nothing lives in module globals, so two apps (tests, `run` and a
benchmark) never share counters or subscribers.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from voiceloop.api.events import EventHub
from voiceloop.api.metrics import Metrics
from voiceloop.config import Config
from voiceloop.dialogue.events import AssistantEvent
from voiceloop.engines import Engines


@dataclass(frozen=True, slots=True)
class ApiContext:
    cfg: Config
    engines: Engines
    config_file: Path | None = None
    mode: Literal["serve", "run"] = "serve"  # API only, or beside the spoken dialogue
    events: EventHub = field(default_factory=EventHub)
    metrics: Metrics = field(default_factory=Metrics)
    # Returns None when the LLM answers, else why not; absent in `serve` mode (no dialogue).
    llm_probe: Callable[[], Awaitable[str | None]] | None = None

    def on_event(self, event: AssistantEvent) -> None:
        """The `Assistant`'s observer: the event stream and the metrics."""
        self.events.publish(event)
        self.metrics.observe_event(event)
