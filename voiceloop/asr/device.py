"""Pick the inference device from `asr.device` (auto | cpu | cuda | cuda:N)."""

from __future__ import annotations

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
