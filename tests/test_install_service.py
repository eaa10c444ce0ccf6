"""`scripts/install-service` and the systemd user unit it installs, in a throwaway HOME.

systemd's own `systemd-analyze verify` checks the installed unit (a real user manager cannot run
here). For the steps that need one running (lingering, enabling) the script is run with
`loginctl` and `systemctl` replaced by recorders on PATH, which is all that can be seen of them
without systemd.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "install-service"
VOICELOOP = Path(sys.executable).with_name("voiceloop")  # the venv's console script


def _env(home: Path, **extra: str) -> dict[str, str]:
    runtime = home / "run"
    runtime.mkdir(mode=0o700, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("XDG_")}
    return {**env, "HOME": str(home), "XDG_RUNTIME_DIR": str(runtime), **extra}


def _install(home: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(SCRIPT), "--voiceloop", str(VOICELOOP), *args], env=_env(home, **env),
                          capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL, check=False)


def test_the_unit_is_written_for_the_user_manager_and_systemd_accepts_it(tmp_path):
    assert shutil.which("systemd-analyze"), "systemd-analyze missing: apt-get install systemd (scripts/setup)"
    done = _install(tmp_path, "--no-start")
    assert done.returncode == 0, done.stderr
    unit = tmp_path / ".config" / "systemd" / "user" / "voiceloop.service"
    assert list(unit.parent.iterdir()) == [unit]  # nothing half-written left beside it
    text = unit.read_text()
    assert f"ExecStart={VOICELOOP} run\n" in text
    for line in ("Type=notify", "WatchdogSec=30", "TimeoutStartSec=infinity", "StateDirectory=voiceloop",
                 "WantedBy=default.target", "RestartPreventExitStatus=2"):
        assert line + "\n" in text, line
    assert "pipewire-pulse.service" in text and "pulseaudio.service" in text
    assert "User=" not in text and "multi-user.target" not in text  # a user unit, not a system one
    verify = subprocess.run(["systemd-analyze", "--user", "verify", str(unit)], env=_env(tmp_path),
                            capture_output=True, text=True, timeout=60, check=False)
    assert verify.returncode == 0 and not verify.stdout.strip() and not verify.stderr.strip(), verify.stderr
    config = tmp_path / ".config" / "voiceloop" / "voiceloop.yaml"
    assert config.read_text() == (REPO / "config" / "voiceloop.yaml").read_text()


def test_a_missing_program_is_refused_before_anything_is_written(tmp_path):
    done = subprocess.run([str(SCRIPT), "--voiceloop", str(tmp_path / "nothing")], env=_env(tmp_path),
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 1 and "scripts/setup" in done.stderr and str(tmp_path / "nothing") in done.stderr
    assert not (tmp_path / ".config" / "systemd" / "user" / "voiceloop.service").exists()


def test_install_lingers_enables_and_starts_and_keeps_an_edited_config(tmp_path):
    bin_dir, calls = tmp_path / "bin", tmp_path / "calls"
    bin_dir.mkdir()
    for tool in ("loginctl", "systemctl"):
        (bin_dir / tool).write_text(f'#!/bin/sh\necho "{tool} $*" >> "{calls}"\n')
        (bin_dir / tool).chmod(0o755)
    config = tmp_path / ".config" / "voiceloop" / "voiceloop.yaml"
    config.parent.mkdir(parents=True)
    config.write_text("llm:\n  base_url: http://127.0.0.1:8080/v1\n")
    done = _install(tmp_path, PATH=f"{bin_dir}:{os.environ['PATH']}")
    assert done.returncode == 0, done.stderr
    user = subprocess.run(["id", "-un"], capture_output=True, text=True, check=True).stdout.strip()
    assert calls.read_text().splitlines() == [
        f"loginctl enable-linger {user}", "systemctl --user daemon-reload", "systemctl --user enable --now voiceloop.service"]
    assert config.read_text() == "llm:\n  base_url: http://127.0.0.1:8080/v1\n"


def test_without_a_user_manager_it_says_how_to_finish(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "loginctl").write_text("#!/bin/sh\nexit 0\n")
    (bin_dir / "systemctl").write_text('#!/bin/sh\necho "Failed to connect to bus: No medium found" >&2\nexit 1\n')
    for tool in bin_dir.iterdir():
        tool.chmod(0o755)
    done = _install(tmp_path, PATH=f"{bin_dir}:{os.environ['PATH']}")
    assert done.returncode == 1
    assert "systemctl --user daemon-reload && systemctl --user enable --now voiceloop" in done.stderr
