"""voiceloop's HTTP API on a real uvicorn server, in a background thread's event loop, on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import threading
from collections.abc import Iterator
from dataclasses import dataclass

from voiceloop.api.context import ApiContext
from voiceloop.engines import Engines
from voiceloop.api.server import api_server, bind_socket
from voiceloop.config import Config


@dataclass
class RunningApi:
    url: str
    ctx: ApiContext
    loop: asyncio.AbstractEventLoop

    def call(self, fn, *args):
        """Run `fn(*args)` on the server's event loop (where the hub and scheduler live) and wait."""
        async def run():
            return fn(*args)
        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(10)


@contextlib.contextmanager
def running_api(cfg: Config, engines: Engines, mode: str = "serve") -> Iterator[RunningApi]:
    """Serve on a free 127.0.0.1 port until the block ends; the token comes from cfg.api.token_env."""
    cfg = dataclasses.replace(cfg, api=dataclasses.replace(cfg.api, host="127.0.0.1", port=0))
    ctx = ApiContext(cfg, engines, mode=mode)
    sock = bind_socket(cfg.api)
    started: dict = {}
    ready = threading.Event()

    async def main() -> None:
        stop = asyncio.Event()
        started["stop"] = stop
        started["loop"] = asyncio.get_running_loop()
        try:
            async with api_server(ctx, sock) as url:
                started["url"] = url
                ready.set()
                await stop.wait()
        finally:
            ready.set()

    thread = threading.Thread(target=lambda: asyncio.run(main()), name="api-test-server", daemon=True)
    thread.start()
    assert ready.wait(30) and "url" in started, "the API server did not start"
    try:
        yield RunningApi(started["url"], ctx, started["loop"])
    finally:
        started["loop"].call_soon_threadsafe(started["stop"].set)
        thread.join(15)
        assert not thread.is_alive(), "the API server did not stop within 15 s"
