"""Find a FunASR model for a configured name-or-path: local dir, then the ModelScope cache, then download.

funasr resolves hub names itself, but offline it retries for ~15 s and then reports the model as
"not registered". Resolving here first turns every miss into one clear `ModelNotFoundError` within
about a second, and funasr only ever sees complete local dirs.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from pathlib import Path

from voiceloop.asr.base import ModelInfo
from voiceloop.asr.onnx.session import EXPORT_FIX, has_export
from voiceloop.config import AsrConfig
from voiceloop.errors import ModelNotFoundError
from voiceloop.paths import expand_path

log = logging.getLogger(__name__)

REQUIRED_FILES = ("config.yaml", "model.pt")
ONNX_FILES = ("model.onnx", "model_quant.onnx")  # a FunASR ONNX dir (or our export) may lack model.pt
MODELSCOPE_HOST = "www.modelscope.cn"
OFFLINE_ENV = "VOICELOOP_OFFLINE"
_ROLE_KEYS = {"asr": "asr.model", "vad": "asr.vad_model", "punc": "asr.punc_model"}


def hub_reachable(host: str, port: int = 443, timeout_s: float = 1.0) -> bool:
    """True when a TCP connection to `host` (optionally "host:port") opens within `timeout_s`.

    `VOICELOOP_OFFLINE=1` answers False at once. DNS lookups have no timeout of their own, so the
    probe runs in a daemon thread and is abandoned when the deadline passes.
    """
    if os.environ.get(OFFLINE_ENV, "").strip() not in ("", "0"):
        return False
    host, _, port_text = host.partition(":")
    port = int(port_text) if port_text.isdigit() else port
    done = threading.Event()
    ok: list[bool] = []

    def probe() -> None:
        try:
            with socket.create_connection((host, port), timeout=timeout_s):
                ok.append(True)
        except OSError:
            pass
        finally:
            done.set()

    threading.Thread(target=probe, name="hub-probe", daemon=True).start()
    done.wait(timeout_s)
    return bool(ok)


def modelscope_host() -> str:
    """The hub host modelscope itself would use (`MODELSCOPE_DOMAIN` overrides it)."""
    domain = os.environ.get("MODELSCOPE_DOMAIN", "").strip() or MODELSCOPE_HOST
    return domain.removeprefix("https://").removeprefix("http://").rstrip("/")


def configured_models(cfg: AsrConfig) -> list[tuple[str, str]]:
    """(role, name) for each FunASR model the config enables; "" disables VAD or punctuation."""
    pairs = [("asr", cfg.model), ("vad", cfg.vad_model), ("punc", cfg.punc_model)]
    return [(role, name) for role, name in pairs if name.strip()]


def resolve_model(name: str, role: str, cache_dir: str, download: bool = True) -> Path:
    """The local dir holding model `name`, downloading it into `cache_dir` only when allowed and online."""
    key = _ROLE_KEYS.get(role, role)
    local = Path(name).expanduser()
    if local.is_dir():
        return _checked(local, name, key)
    if _looks_like_path(name):
        raise ModelNotFoundError(f"{key}: model dir {local} does not exist. Fix: set {key} to a dir holding "
                                 f"{' and '.join(REQUIRED_FILES)}, or to a ModelScope model name.")
    cached = find_in_cache(name, cache_dir)
    if cached is not None:
        return _checked(cached, name, key)
    if not download:
        raise ModelNotFoundError(_not_here(name, key, cache_dir, "it has not been downloaded"))
    host = modelscope_host()
    if not hub_reachable(host):
        raise ModelNotFoundError(_not_here(name, key, cache_dir, f"the hub ({host}) cannot be reached"))
    return _checked(_download(name, cache_dir), name, key)


def find_in_cache(name: str, cache_dir: str) -> Path | None:
    """A complete copy of hub model `org/name` in any ModelScope cache layout, or None.

    Layouts: `models/<org>/<name>` with dots as `___` (modelscope 1.x), the same unescaped,
    `models/<org>--<name>/snapshots/<rev>` (modelscope_hub) and `<org>/<name>` (older SDKs).
    """
    if name.count("/") != 1:
        return None
    cache = expand_path(cache_dir)
    org, model = name.split("/")
    candidates = [cache / "models" / org / model.replace(".", "___"), cache / "models" / org / model,
                  cache / org / model]
    snapshots = cache / "models" / f"{org}--{model}" / "snapshots"
    if snapshots.is_dir():
        candidates += sorted(snapshots.iterdir(), key=lambda p: p.stat().st_mtime, reverse=True)
    return next((c for c in candidates if not _missing_files(c)), None)


def describe_models(cfg: AsrConfig) -> tuple[ModelInfo, ...]:
    """Where each configured model is, or why it is unusable and what to do; never downloads."""
    if cfg.engine == "whisper":
        return (_describe_whisper(cfg.whisper.model),)
    infos = []
    for role, name in configured_models(cfg):
        try:
            path = resolve_model(name, role, cfg.cache_dir, download=False)
            if cfg.backend == "onnx" and not has_export(path):
                infos.append(ModelInfo(role, name, None, f"{path} has no ONNX export and asr.backend is onnx; "
                                                         f"run `{EXPORT_FIX} --quantize`"))
                continue
            infos.append(ModelInfo(role, name, str(path)))
        except ModelNotFoundError as exc:
            infos.append(ModelInfo(role, name, None, str(exc)))
    return tuple(infos)


def fetch_models(cfg: AsrConfig) -> list[tuple[str, str, Path]]:
    """Make every configured FunASR model present in `cfg.cache_dir`: (role, name, dir) for each."""
    return [(role, name, resolve_model(name, role, cfg.cache_dir)) for role, name in configured_models(cfg)]


def _download(name: str, cache_dir: str) -> Path:
    from modelscope.hub.snapshot_download import snapshot_download

    log.info("downloading %s from ModelScope into %s", name, cache_dir)
    try:
        return Path(snapshot_download(name, cache_dir=str(expand_path(cache_dir))))
    except Exception as exc:  # noqa: BLE001 - modelscope raises many types; all mean "not downloadable"
        raise ModelNotFoundError(f"cannot download '{name}' from ModelScope: {exc}. Fix: check the name "
                                 f"(org/model as on modelscope.cn) and the network, or set the key to a "
                                 f"local model dir.") from exc


def _checked(path: Path, name: str, key: str) -> Path:
    missing = _missing_files(path)
    if missing:
        raise ModelNotFoundError(f"{key}: model dir {path} (for '{name}') lacks {', '.join(missing)}. "
                                 f"A FunASR model dir holds {', '.join(REQUIRED_FILES)} (plus tokens.json, "
                                 f"am.mvn); copy the complete dir or run scripts/fetch-models again.")
    return path.resolve()


def _missing_files(path: Path) -> list[str]:
    if not path.is_dir():
        return list(REQUIRED_FILES)
    missing = [f for f in REQUIRED_FILES if not (path / f).is_file()]
    if "model.pt" in missing and any((path / f).is_file() for f in ONNX_FILES):
        missing.remove("model.pt")
    return missing


def _looks_like_path(name: str) -> bool:
    return name.startswith(("/", "./", "../", "~")) or name.count("/") != 1


def _not_here(name: str, key: str, cache_dir: str, why: str) -> str:
    return (f"{key}: model '{name}' is not on this machine (not a local dir, not in the ModelScope cache "
            f"{cache_dir}) and {why}. Fix: on a box with internet run `scripts/fetch-models --config "
            f"<your config>` and copy its cache dir here, or copy the model dir here and set {key} to its path.")


def _describe_whisper(name: str) -> ModelInfo:
    path = Path(name).expanduser()
    if path.is_dir():
        problem = None if (path / "model.bin").is_file() else f"{path} has no model.bin"
        return ModelInfo("asr", name, str(path) if problem is None else None, problem)
    try:
        from faster_whisper.utils import download_model

        return ModelInfo("asr", name, download_model(name, local_files_only=True))
    except Exception:  # noqa: BLE001 - any miss in the local Hugging Face cache means "not here"
        return ModelInfo("asr", name, None, "not in the Hugging Face cache; run `scripts/fetch-models` on a box "
                                            "with internet, or set asr.whisper.model to a local dir")
