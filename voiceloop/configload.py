"""Find, read and validate the YAML config into the frozen `Config` tree.

Every problem becomes one `ConfigError` naming the file, the key path (`asr.hotwords[2]`) and
what was expected, so the CLI can print it and exit 2 before anything else runs.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import types
import typing
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

import yaml

from voiceloop.config import Config
from voiceloop.errors import ConfigError

ENV_VAR = "VOICELOOP_CONFIG"
# Keys older versions took that mean nothing now: a config that still sets them loads, with a warning.
_RETIRED = {
    "aec.ns_level": "the AEC3 build in use has one noise-suppression strength; aec.noise_suppression turns it on or off",
}

log = logging.getLogger(__name__)


def search_paths() -> list[Path]:
    """Where a config is looked for when `--config` is not given, in order."""
    paths = []
    if os.environ.get(ENV_VAR):
        paths.append(Path(os.environ[ENV_VAR]).expanduser())
    paths.append(Path("~/.config/voiceloop/voiceloop.yaml").expanduser())
    paths.append(Path("/etc/voiceloop/voiceloop.yaml"))
    return paths


def find_config(explicit: str | os.PathLike | None) -> Path | None:
    """The file to load, or None for built-in defaults. An explicit or $VOICELOOP_CONFIG path must exist."""
    if explicit is not None:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise ConfigError(f"{path}: config file not found (given with --config)")
        return path
    env = os.environ.get(ENV_VAR)
    if env:
        path = Path(env).expanduser()
        if not path.is_file():
            raise ConfigError(f"{path}: config file not found (named by ${ENV_VAR})")
        return path
    for path in search_paths():
        if path.is_file():
            return path
    return None


def load_config(explicit: str | os.PathLike | None = None) -> tuple[Config, Path | None]:
    """Load and validate; returns the config and the file it came from (None: defaults)."""
    path = find_config(explicit)
    if path is None:
        return Config(), None
    return parse_config_text(_read(path), str(path)), path


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a UTF-8 text file; expected a YAML config") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config ({exc.strerror or exc})") from None


def parse_config_text(text: str, source: str = "<config>") -> Config:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{source}: not valid YAML{where}: {problem}") from None
    if data is None:
        data = {}
    return build(Config, data, source, "")


def build(cls: type, data: Any, source: str, path: str) -> Any:
    """Build dataclass `cls` from a mapping, checking keys, types and ranges."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: {path or 'top level'}: expected a mapping of keys, got {_kind(data)}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for key, value in data.items():
        key_path = f"{path}.{key}" if path else str(key)
        if key not in fields and key_path in _RETIRED:
            log.warning("%s: %s is no longer used and is ignored (%s); remove it", source, key_path, _RETIRED[key_path])
            continue
        if key not in fields:
            known = ", ".join(sorted(fields))
            raise ConfigError(f"{source}: {key_path}: unknown key; known keys here: {known}")
        value = _convert(hints[key], value, source, key_path)
        _check_range(fields[key], value, source, key_path)
        kwargs[key] = value
    return cls(**kwargs)


def _convert(tp: Any, value: Any, source: str, path: str) -> Any:
    origin = get_origin(tp)
    if dataclasses.is_dataclass(tp):
        return build(tp, {} if value is None else value, source, path)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in get_args(tp) if a is not type(None)]
        if value is None:
            return None
        return _convert(args[0], value, source, path)
    if origin is Literal:
        choices = get_args(tp)
        if value not in choices:
            raise ConfigError(f"{source}: {path}: expected one of {', '.join(map(str, choices))}; got {value!r}")
        return value
    if origin is tuple:
        if value is None:
            return ()
        if isinstance(value, str) or not isinstance(value, list):
            raise ConfigError(f"{source}: {path}: expected a list, got {_kind(value)}")
        item_tp = get_args(tp)[0]
        return tuple(_convert(item_tp, v, source, f"{path}[{i}]") for i, v in enumerate(value))
    return _scalar(tp, value, source, path)


def _scalar(tp: type, value: Any, source: str, path: str) -> Any:
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{source}: {path}: expected true or false, got {_kind(value)} {value!r}")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ConfigError(f"{source}: {path}: expected a whole number, got {_kind(value)} {value!r}")
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise ConfigError(f"{source}: {path}: expected a number, got {_kind(value)} {value!r}")
    if tp is str:
        if isinstance(value, str):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
        raise ConfigError(f"{source}: {path}: expected text, got {_kind(value)} {value!r}")
    raise TypeError(f"unsupported config type {tp!r} at {path}")


def _check_range(f: dataclasses.Field, value: Any, source: str, path: str) -> None:
    lo, hi = f.metadata.get("min"), f.metadata.get("max")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            raise ConfigError(f"{source}: {path}: {value} is out of range; expected {lo} to {hi}")


def _kind(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    return {dict: "a mapping", list: "a list", str: "text", bool: "a boolean", int: "a whole number",
            float: "a number"}.get(type(value), type(value).__name__)
