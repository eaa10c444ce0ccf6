"""Which sound devices exist, which one the config means, and what format to open it in.

PortAudio (through sounddevice) enumerates devices once, when it initialises; `refresh` makes it
look again, so a USB microphone plugged back in or a restarted sound server is found.
"""

from __future__ import annotations

import ctypes
import functools
import logging
from dataclasses import dataclass
from typing import Literal

from voiceloop.audio.frames import SAMPLE_RATE
from voiceloop.config import AudioConfig
from voiceloop.errors import DeviceError

Kind = Literal["input", "output"]
log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    """One PortAudio device as seen from one direction (`channels` counts that direction only)."""

    index: int
    name: str
    hostapi: str
    channels: int
    default_rate: float
    is_default: bool


@dataclass(frozen=True, slots=True)
class StreamFormat:
    """How a device stream is opened: its rate and channel count, before conversion to 16 kHz mono."""

    device: DeviceInfo
    rate: int
    channels: int


def sounddevice():
    """The sounddevice module, or a DeviceError saying how to get PortAudio."""
    try:
        import sounddevice as sd
    except OSError as exc:  # the module loads libportaudio at import
        raise DeviceError(f"cannot load PortAudio ({exc}); install it: apt-get install libportaudio2") from None
    _alsa_messages_to_debug_log()
    return sd


@functools.cache
def _alsa_messages_to_debug_log() -> object:
    """Route libasound's messages to the DEBUG log instead of stderr.

    ALSA prints a line for every PCM it cannot open while PortAudio enumerates ("Unknown PCM
    cards.pcm.rear", "Unable to create stream: No such entity"): many lines on every retry while
    voiceloop waits for a device, for days in the journal. voiceloop reports device problems
    itself, once. The handler object is kept (cached) for as long as libasound may call it.
    """
    try:
        alsa = ctypes.CDLL("libasound.so.2")
    except OSError:
        return None  # no ALSA (macOS, Windows): nothing to quiet
    handler_type = ctypes.CFUNCTYPE(None, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_int,
                                    ctypes.c_char_p)

    def handler(file: bytes | None, line: int, function: bytes | None, err: int, fmt: bytes | None) -> None:
        log.debug("ALSA: %s in %s:%d (error %d)", (fmt or b"").decode(errors="replace"),
                  (function or b"?").decode(errors="replace"), line, err)

    keep = handler_type(handler)
    alsa.snd_lib_error_set_handler(keep)
    return keep


def refresh() -> None:
    """Re-enumerate devices (PortAudio only looks at init). No stream may be open."""
    sd = sounddevice()
    sd._terminate()
    sd._initialize()


def list_devices() -> tuple[list[DeviceInfo], list[DeviceInfo]]:
    """(inputs, outputs); both empty when there is no sound card or PortAudio cannot enumerate."""
    sd = sounddevice()
    try:
        raw = list(sd.query_devices())
        apis = [api["name"] for api in sd.query_hostapis()]
        default_in, default_out = (int(i) for i in sd.default.device)
    except sd.PortAudioError:
        return [], []
    inputs, outputs = [], []
    for dev in raw:
        for kind, defaults, out in (("input", default_in, inputs), ("output", default_out, outputs)):
            channels = int(dev[f"max_{kind}_channels"])
            if channels > 0:
                out.append(DeviceInfo(int(dev["index"]), str(dev["name"]), apis[dev["hostapi"]], channels,
                                      float(dev["default_samplerate"]), dev["index"] == defaults))
    return inputs, outputs


def format_device_list() -> str:
    """The text `voiceloop devices` prints: every input and output, the defaults starred."""
    inputs, outputs = list_devices()
    lines = []
    for title, devices in (("Input devices", inputs), ("Output devices", outputs)):
        lines.append(f"{title}:")
        if not devices:
            lines.append("  none found")
        for d in devices:
            mark = "*" if d.is_default else " "
            lines.append(f"  {mark} {d.index:>3}  {d.name}  ({d.hostapi}, {d.channels} ch, {d.default_rate:.0f} Hz)")
    lines.append("* = system default; set audio.input_device / audio.output_device to a name (or part of it) or index")
    return "\n".join(lines) + "\n"


def resolve(spec: str | int | None, kind: Kind) -> DeviceInfo:
    """The device `spec` names (index, exact name, or part of a name), or the default; DeviceError lists the rest."""
    inputs, outputs = list_devices()
    devices = inputs if kind == "input" else outputs
    key = f"audio.{kind}_device"
    if spec is None or (isinstance(spec, str) and not spec.strip()):
        found = next((d for d in devices if d.is_default), devices[0] if devices else None)
        if found is None:
            raise DeviceError(f"no audio {kind} device found (no sound card or sound server?); {_listing(inputs, outputs)}")
        return found
    text = str(spec).strip()
    if text.isdigit():
        found = next((d for d in devices if d.index == int(text)), None)
    else:
        found = next((d for d in devices if d.name == text), None) or next(
            (d for d in devices if text.lower() in d.name.lower()), None)
    if found is None:
        raise DeviceError(f"{key}={spec!r}: no such {kind} device; {_listing(inputs, outputs)}")
    return found


def _listing(inputs: list[DeviceInfo], outputs: list[DeviceInfo]) -> str:
    def names(devices: list[DeviceInfo]) -> str:
        return ", ".join(f"{d.index} {d.name!r}" for d in devices) or "none"

    return f"inputs: {names(inputs)}; outputs: {names(outputs)} (see `voiceloop devices`)"


def choose_format(device: DeviceInfo, kind: Kind, cfg: AudioConfig) -> StreamFormat:
    """16 kHz mono when the device takes it (no conversion at all), else its own rate and channels.

    `audio.device_rate` / `audio.device_channels` force a format, for devices that accept 16 kHz
    but resample it badly.
    """
    sd = sounddevice()
    check = sd.check_input_settings if kind == "input" else sd.check_output_settings
    rates = [cfg.device_rate] if cfg.device_rate else [SAMPLE_RATE, int(device.default_rate)]
    channel_options = [cfg.device_channels] if cfg.device_channels else [1, 2, device.channels]
    problems = []
    for rate in dict.fromkeys(rates):
        for channels in dict.fromkeys(c for c in channel_options if c <= device.channels):
            try:
                check(device=device.index, samplerate=rate, channels=channels, dtype="float32")
            except (sd.PortAudioError, ValueError) as exc:
                problems.append(f"{rate} Hz x{channels}: {exc}")
                continue
            return StreamFormat(device, rate, channels)
    raise DeviceError(f"audio {kind} {device.name!r} accepts none of the formats tried ({'; '.join(problems) or 'none'});"
                      f" set audio.device_rate / audio.device_channels to what it supports")


def check_devices(cfg: AudioConfig) -> list[tuple[str, str, str | None]]:
    """For `voiceloop check`: (item, detail, problem or None) for the configured input and output."""
    items = []
    for kind in ("input", "output"):
        spec = cfg.input_device if kind == "input" else cfg.output_device
        try:
            fmt = choose_format(resolve(spec, kind), kind, cfg)
        except DeviceError as exc:
            items.append((f"audio {kind}", "", str(exc)))
            continue
        conv = "" if (fmt.rate, fmt.channels) == (SAMPLE_RATE, 1) else ", converted to 16 kHz mono"
        items.append((f"audio {kind}", f"{fmt.device.index} {fmt.device.name!r}: {fmt.rate} Hz x{fmt.channels}{conv}", None))
    return items
