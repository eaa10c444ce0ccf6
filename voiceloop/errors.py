"""Errors a user sees: each message names the bad input and what to do about it."""

from __future__ import annotations


class VoiceloopError(Exception):
    """Base for errors that the CLI prints as one line and turns into an exit code."""

    exit_code = 1


class ConfigError(VoiceloopError):
    exit_code = 2


class ModelNotFoundError(VoiceloopError):
    """A configured model is neither a local dir, nor cached, nor downloadable."""

    exit_code = 2


class AudioDecodeError(VoiceloopError):
    """A file that cannot be turned into 16 kHz mono samples (missing, not audio, truncated, silent)."""


class DeviceError(VoiceloopError):
    """A sound device that cannot be opened or stopped working."""


class LlmError(VoiceloopError):
    """The LLM endpoint failed; `code` is a short machine-readable cause for logs and turn records."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


class TtsError(VoiceloopError):
    """A TTS engine could not synthesize a sentence."""
