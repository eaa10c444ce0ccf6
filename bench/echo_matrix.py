"""The echo matrix: does the front end ever take the assistant's own voice for the user?

    .venv/bin/python bench/echo_matrix.py [--quick] [--reply-s 25]

Runs the real front end (AEC3, the linear barge-in canceller, silero, the endpointer) in the
simulated room, as fast as the CPU goes, over every cell of: echo delay 0.05 / 0.15 / 0.4 s; clock
drift 0 and +-300 ppm, visible in the devices' timestamps or hidden from them (the echo path itself
slips); the echo 6 dB quieter than the user, equal, 6 dB louder. Per cell (tests/support/echo_cells.py):
three long replies from a cold start with nobody talking, then a cold start where the user barges
into the first reply 2 s in and into the reply after that one. Printed per cell: reply minutes with
nobody talking, ducks for nothing (`SpeechPossible`, and the seconds the reply stayed turned down),
cuts for nothing (`SpeechStarted`) and utterances for nothing (its own echo handed to recognition)
there, and the two barge-ins' delays from the user's first sound to the reply turned down / stopped (the onset).
`--quick` runs the cells tests/audio/test_echo_matrix.py runs; `--wander` the echo path wandering
1 ms a second (+-1000 ppm hidden), beyond the matrix: what a PulseAudio cold start once showed
(16 -> 22 ms in 7 s, a first reply's echo taken for the user), kept here as the known weak cell.
`--cer` also recognises each barge-in's utterances (Whisper base, as the room tests) and prints
their CER beside the same clips recognised alone (the files, and what the front end kept of them in
the room with the speaker silent); `--barge-only` skips the idle replies (the
barge-in columns alone, ~5 s a cell). Measures the front end only: what reaches the LLM is the
dialogue's echo check's part (voiceloop/dialogue/echotext.py).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import time

from support.echo_cells import USER_CLIPS, Cell, run_cell

QUICK = (Cell(0.05, 0.0, False, 0.0), Cell(0.4, 300.0, True, 0.0), Cell(0.15, 300.0, False, 6.0))
WANDER = (Cell(0.05, 1000.0, True, 0.0), Cell(0.05, -1000.0, True, 6.0))


class _Scorer:
    """CER of what the front end kept of each barge-in, against the clip recognised alone."""

    def __init__(self):
        import tempfile
        from pathlib import Path

        from support.models_pypi import assemble_whisper_base
        from support.recordings import ZH, read_manifest
        from support.wyoming_peer import whisper_config
        from voiceloop.asr.whisper import WhisperEngine
        from voiceloop.audio.decode import decode_file

        self._asr = WhisperEngine(whisper_config(assemble_whisper_base(Path(tempfile.mkdtemp()) / "w")))
        self._refs = [read_manifest()[name] for name in USER_CLIPS[:2]]
        self.files = [self.cer(k, [decode_file(ZH / name)]) for k, name in enumerate(USER_CLIPS[:2])]
        self.room = [self.cer(k, pieces) for k, pieces in enumerate(
            asyncio.run(run_cell(Cell(), idle=False, silent=True)).barge_audio)]
        self.cers: list[float] = []

    def cer(self, k: int, pieces) -> float:
        from support.cer import cer

        text = "".join(self._asr.transcribe(p, timestamps=False).text for p in pieces)
        return min(1.0, cer(text, self._refs[k]))

    def cell(self, audio) -> str:
        values = [self.cer(k, pieces) for k, pieces in enumerate(audio)]
        self.cers += values
        return "CER " + " ".join(f"{v:.2f}" for v in values)


def _ms(values) -> str:
    return " ".join("miss" if v is None else f"{v * 1000:4.0f}" for v in values)


async def main(args) -> None:
    cells = QUICK if args.quick else WANDER if args.wander else [
        Cell(delay, ppm, hidden, echo) for delay, (ppm, hidden), echo in itertools.product(
            (0.05, 0.15, 0.4), ((0.0, False), (300.0, False), (-300.0, False), (300.0, True), (-300.0, True)),
            (-6.0, 0.0, 6.0))]
    total_min = total_pauses = total_cuts = total_heard = total_down = 0.0
    first, second = [], []
    scorer = await asyncio.to_thread(_Scorer) if args.cer else None
    for cell in cells:
        wall = time.perf_counter()
        r = await run_cell(cell, reply_s=args.reply_s, idle=not args.barge_only)
        minutes = r.idle_s / 60
        total_min += minutes
        total_pauses += len(r.idle_possible)
        total_cuts += len(r.idle_onsets)
        first.append(r.barge_possible_s[0])
        second.append(r.barge_possible_s[1])
        total_heard += len(r.idle_utterances)
        total_down += r.idle_down_s
        print(f"{cell}: {minutes:4.1f} min idle, {len(r.idle_possible):2d} ducks ({r.idle_down_s:4.1f} s down), "
              f"{len(r.idle_onsets):2d} cuts, "
              f"{len(r.idle_utterances):2d} utterances; "
              f"barge-in ducked/stopped ms: first reply {_ms([r.barge_possible_s[0], r.barge_onset_s[0]])}, "
              f"after a barge-in {_ms([r.barge_possible_s[1], r.barge_onset_s[1]])}; user speech left out ms "
              f"{_ms(r.barge_missed_s)}{'; ' + scorer.cell(r.barge_audio) if scorer else ''}  "
              f"({time.perf_counter() - wall:.0f} s)", flush=True)
    heard = sorted(v for v in second if v is not None)
    if scorer:
        print(f"CER of the barge-ins: mean {sum(scorer.cers) / len(scorer.cers):.3f} over {len(scorer.cers)}, "
              f"the clips alone: files {' '.join(f'{v:.2f}' for v in scorer.files)}, in the room "
              f"{' '.join(f'{v:.2f}' for v in scorer.room)} (target: within 0.03)")
    if total_min:
        print(f"all cells: {total_pauses:.0f} ducks ({total_down:.1f} s down), {total_cuts:.0f} cuts and {total_heard:.0f} "
              f"utterances for nothing in {total_min:.1f} min of reply ({total_pauses / total_min * 10:.1f} ducks per "
              f"10 min; target 0 where the path is steady, <= 1 worst)")
    print(f"barge-in, reply turned down: first reply missed {first.count(None)}/{len(first)}; "
          f"after a barge-in median {heard[len(heard) // 2] * 1000:.0f} ms (target 150 ms), missed {second.count(None)}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="only the cells the tests run")
    parser.add_argument("--wander", action="store_true", help="only the echo path wandering 1 ms a second")
    parser.add_argument("--cer", action="store_true", help="recognise the barge-ins (Whisper base): their CER")
    parser.add_argument("--barge-only", action="store_true", help="skip the idle replies")
    parser.add_argument("--reply-s", type=float, default=25.0, help="length of each reply")
    asyncio.run(main(parser.parse_args()))
