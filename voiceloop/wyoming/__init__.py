"""voiceloop as a Home Assistant Wyoming speech-to-text and text-to-speech server."""

from __future__ import annotations

from voiceloop.wyoming.server import WyomingServer, wyoming_alongside

__all__ = ["WyomingServer", "wyoming_alongside"]
