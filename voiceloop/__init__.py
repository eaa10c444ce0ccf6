"""voiceloop: a hands-free Chinese voice assistant daemon."""

__version__ = "0.1.0"
