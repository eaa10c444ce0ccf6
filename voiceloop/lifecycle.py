"""One way to run a long-running mode (`run`, `serve`, `wyoming`, `listen`) until it is told to stop.

SIGINT and SIGTERM (Ctrl-C, `systemctl stop`) cancel the mode's task, so its `finally` blocks
close devices, servers and engines in order; a signal is a clean stop, exit code 0.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable


def run_until_signal(main: Callable[[], Awaitable[int | None]], log: logging.Logger) -> int:
    """Run `main()` on a fresh event loop until it returns or a signal stops it; its exit code."""
    return asyncio.run(_until_signal(main, log))


async def _until_signal(main: Callable[[], Awaitable[int | None]], log: logging.Logger) -> int:
    task = asyncio.current_task()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, task.cancel)
    try:
        code = await main()
    except asyncio.CancelledError:
        task.uncancel()
        code = 0
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    log.info("stopped")
    return code or 0
