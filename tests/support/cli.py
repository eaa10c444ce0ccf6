"""Run the real `voiceloop` command line in a subprocess, as a user would."""

from __future__ import annotations

import os
import subprocess
import sys


def run_voiceloop(*args: str, env_extra: dict[str, str] | None = None, timeout: float = 300
                  ) -> subprocess.CompletedProcess:
    """`python -m voiceloop ARGS` with no stdin; a $VOICELOOP_CONFIG of the caller's is not inherited."""
    env = {**os.environ, "VOICELOOP_CONFIG": "", **(env_extra or {})}
    return subprocess.run([sys.executable, "-m", "voiceloop", *args], capture_output=True, text=True,
                          timeout=timeout, env=env, stdin=subprocess.DEVNULL)
