"""Paths in the config: `~` and environment variables, with the XDG base directories' defaults.

Defaults name `$XDG_STATE_HOME` (the turn log) and `$XDG_CACHE_HOME` (downloaded models), so a
user who moves them, and systemd's user manager (whose `StateDirectory=` is under
`$XDG_STATE_HOME`), agree with voiceloop on where files are. Unset, empty or relative XDG
variables mean their defaults (~/.local/state, ~/.cache, ~/.config, ~/.local/share), as the
XDG Base Directory specification says.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

XDG_DEFAULTS = {"XDG_STATE_HOME": "~/.local/state", "XDG_CACHE_HOME": "~/.cache", "XDG_CONFIG_HOME": "~/.config",
                "XDG_DATA_HOME": "~/.local/share"}
_VARIABLE = re.compile(r"\$(?:\{(\w+)\}|(\w+))")


def expand_path(text: str) -> Path:
    """`text` with `$VAR` / `${VAR}` and `~` expanded; an unknown variable is left as written."""
    def value(match: re.Match) -> str:
        name = match.group(1) or match.group(2)
        found = os.environ.get(name, "")
        if name in XDG_DEFAULTS and not os.path.isabs(found):
            return os.path.expanduser(XDG_DEFAULTS[name])
        return found if name in os.environ else match.group(0)

    return Path(_VARIABLE.sub(value, text)).expanduser()
