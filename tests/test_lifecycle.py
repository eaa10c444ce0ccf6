"""`run_until_signal`: every long-running mode stops the same way on SIGINT and SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.unit

_MODE = textwrap.dedent("""
    import asyncio, logging, sys
    from voiceloop.lifecycle import run_until_signal

    logging.basicConfig(level=logging.INFO, format="%(message)s")

    async def main():
        try:
            print("serving", flush=True)
            if sys.argv[1] == "done":
                return 3
            await asyncio.Event().wait()
        finally:
            await asyncio.sleep(0.01)  # cleanup can still await after the signal
            print("closed", flush=True)

    sys.exit(run_until_signal(main, logging.getLogger("mode")))
""")


def _start(how: str) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", _MODE, how], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    assert proc.stdout.readline() == "serving\n"
    return proc


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_runs_the_modes_cleanup_and_exits_zero(sig):
    proc = _start("wait")
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert out == "closed\n"
    assert err.strip().splitlines()[-1] == "stopped"


def test_a_mode_that_ends_by_itself_gives_its_exit_code():
    proc = _start("done")
    out, err = proc.communicate(timeout=10)
    assert (proc.returncode, out) == (3, "closed\n"), err
