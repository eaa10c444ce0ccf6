"""Pick the inference device from `asr.device` (auto | cpu | cuda | cuda:N) and the arithmetic from
`asr.precision` (fp32 | fp16 | bf16), and give the heap back once a model is loaded."""

from __future__ import annotations

import ctypes
import logging
import re

from voiceloop.errors import ConfigError

log = logging.getLogger(__name__)

_DEVICE = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")


def resolve_device(requested: str) -> str:
    """'auto' becomes 'cuda:0' when a GPU is present, else 'cpu'; an unusable explicit GPU is an error."""
    if not _DEVICE.match(requested):
        raise ConfigError(f"asr.device: expected auto, cpu, cuda or cuda:N; got {requested!r}")
    if requested == "cpu":
        return "cpu"
    import torch

    available = torch.cuda.is_available()
    if requested == "auto":
        if available:
            name = torch.cuda.get_device_name(0)
            log.info("asr.device auto: using CUDA GPU 0 (%s)", name)
            return "cuda:0"
        log.info("asr.device auto: no CUDA GPU found, using CPU")
        return "cpu"
    if not available:
        raise ConfigError(f"asr.device: {requested} requested but no CUDA GPU is available "
                          f"(torch {torch.__version__}, CUDA build: {torch.version.cuda or 'no'}); "
                          f"set asr.device to auto or cpu")
    index = int(requested.partition(":")[2] or 0)
    if index >= torch.cuda.device_count():
        raise ConfigError(f"asr.device: {requested} requested but only {torch.cuda.device_count()} GPU(s) exist")
    return f"cuda:{index}"


def resolve_precision(requested: str, device: str, bf16_supported: bool) -> str:
    """fp16 and bf16 run the encoder and decoder in half precision on a CUDA GPU (less GPU memory;
    no faster while the CPU-side VAD bounds the pipeline: bench/asr_gpu.py). On a CPU they are an
    error: there the ONNX int8 path is the fast one."""
    if requested != "fp32" and not device.startswith("cuda"):
        raise ConfigError(f"asr.precision: {requested} runs on a CUDA GPU only and asr.device is {device}. "
                          f"Fix: set asr.precision to fp32 (on a CPU, asr.backend onnx with asr.quantize "
                          f"is the fast path).")
    if requested == "bf16" and not bf16_supported:
        raise ConfigError("asr.precision: bf16 needs an Ampere or later GPU and this one has no bf16. "
                          "Fix: set asr.precision to fp16 or fp32.")
    return requested


def trim_heap() -> None:
    """Give freed heap pages back to the OS (glibc keeps them; after loading that is ~1.7 GB for
    Paraformer-large). A no-op where libc has no malloc_trim."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass
