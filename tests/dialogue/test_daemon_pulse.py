"""`voiceloop run` as a user starts it, on real (virtual) sound devices.

A private PulseAudio server provides the sound card; a separate room process carries what the
daemon plays back into its microphone through a room impulse response, and adds the user's
voice (a real recording). The daemon is the real CLI in a subprocess, stopped with SIGTERM.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time

import httpx
import numpy as np

from support.cer import cer
from support.net import closed_port
from support.openai_server import Script, ThreadedOpenAIServer
from support.pulse import room_process
from support.recordings import ZH, read_manifest

USER = "aishell1_BAC009S0724W0121.wav"
REPLY = ("好的，", "我听到了你说的话。", "广州的房地产中介协会做了分析。")


class _Lines:
    """Collects a subprocess's stderr lines in a thread, so the test can wait for one."""

    def __init__(self, stream):
        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream) -> None:
        for line in stream:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, text: str, timeout_s: float) -> str:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for line in self.lines:
                if text in line:
                    return line
            time.sleep(0.1)
        raise AssertionError(f"no {text!r} in daemon output within {timeout_s}s:\n" + "\n".join(self.lines[-30:]))


def _wait_for_lines(path, count: int, timeout_s: float) -> list[dict]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if path.exists():
            lines = path.read_text(encoding="utf-8").splitlines()
            if len(lines) >= count:
                return [json.loads(line) for line in lines]
        time.sleep(0.2)
    raise AssertionError(f"fewer than {count} turn records in {path} after {timeout_s}s")


# No rerun marker: the rare self-interruption here was the front end pairing mic and speaker frames
# in callback order and assuming the echo arrives within 0.3 s; under load this room's echo path
# measured 23-284 ms against the converters' timestamps. tests/audio_devices/test_echo_path_pulse.py
# runs the same room with 400 ms more.
def test_voiceloop_run_answers_through_pulseaudio_and_stops_on_sigterm(tmp_path, pulse, whisper_base_dir):
    turn_log = tmp_path / "turns.jsonl"
    api_port = closed_port()
    with ThreadedOpenAIServer(Script(deltas=REPLY, first_token_delay_s=0.2, delta_delay_s=0.1)) as llm:
        config = tmp_path / "voiceloop.yaml"
        config.write_text(
            f"asr:\n  engine: whisper\n  device: cpu\n  whisper:\n    model: {whisper_base_dir}\n"
            f"audio:\n  input_device: pulse\n  output_device: pulse\n"
            f"llm:\n  base_url: {llm.base_url}\n  model: test-model\n"
            f"tts:\n  edge_proxy: http://127.0.0.1:{closed_port()}\n"
            f"dialogue:\n  turn_log: {turn_log}\n  log_transcripts: true\n"
            f"api:\n  port: {api_port}\n", encoding="utf-8")
        speaker = pulse.recorder("speaker.monitor")
        daemon = subprocess.Popen([sys.executable, "-m", "voiceloop", "run", "--config", str(config)],
                                  env={**pulse.env, "HOME": str(tmp_path)}, stdin=subprocess.DEVNULL,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            err = _Lines(daemon.stderr)
            ready = err.wait_for("ready:", timeout_s=90)
            assert "llm " + llm.base_url + " reachable" in ready
            with room_process(pulse, speech=[(ZH / USER, 3.0)], echo_db=-3.0):
                records = _wait_for_lines(turn_log, 1, timeout_s=45)
                time.sleep(3.0)  # would the reply's echo start a second turn?
            # `run` also serves the HTTP API; its status shows the turn the dialogue just had.
            status = httpx.get(f"http://127.0.0.1:{api_port}/status", timeout=10).json()
            daemon.send_signal(signal.SIGTERM)
            assert daemon.wait(timeout=30) == 0
        finally:
            if daemon.poll() is None:
                daemon.kill()
        heard = speaker.stop()

    chats = [r for r in llm.requests if r.method == "POST"]
    log = "\n".join(err.lines)  # a str message is shown whole; a tuple's repr would be cut short
    assert len(chats) == 1, f"{[c.body['messages'][-1] for c in chats]}\n{log}"
    said = chats[0].body["messages"][-1]["content"]
    assert cer(said, read_manifest()[USER]) <= 0.35, f"{said}\n{log}"
    turns = turn_log.read_text(encoding="utf-8")
    assert len(turns.splitlines()) == 1, f"{turns}\n{log}"
    assert status["mode"] == "run" and status["state"] == "listening" and status["llm"]["reachable"]
    assert [t["user_text"] for t in status["recent_turns"]] == [records[0]["user_text"]]
    assert records[0]["user_text"] == said and records[0]["reply_text"] == "".join(REPLY), log
    assert records[0]["heard_text"] == records[0]["reply_text"]  # counted from what the sink really rendered
    assert not records[0]["interrupted"], log
    loud = np.abs(heard) > 0.02
    assert loud.sum() / 16000 > 0.5, "the reply never reached the speaker"
    err.wait_for("stopped", timeout_s=5)
