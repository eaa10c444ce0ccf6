"""What a CPU cannot be made to do: a GPU running out of memory when given several inputs at once."""

from __future__ import annotations


class OutOfMemoryInBatches:
    """The real engine, except that recognising several recordings or segments in one call fails
    as a GPU out of memory does; one at a time works. `batch_seconds` makes batch transcription
    gather files as it does on a GPU."""

    batch_seconds = 20.0

    def __init__(self, engine):
        self._engine = engine
        self.name = engine.name

    def transcribe(self, *args, **kwargs):
        return self._engine.transcribe(*args, **kwargs)

    def transcribe_many(self, items, *args, **kwargs):
        if len(items) > 1:
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return self._engine.transcribe_many(items, *args, **kwargs)

    def info(self):
        return self._engine.info()
