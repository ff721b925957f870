"""Checking `LiveServer` and uvicorn options, with errors that name the option and its source."""

from __future__ import annotations

import difflib
import math
from typing import Any

import uvicorn

from ._errors import OptionError
from ._uvicorn_compat import RESERVED_OPTIONS, config_option_names


def check_uvicorn_options(options: dict[str, Any], source: str = "LiveServer") -> dict[str, Any]:
    """Reject unknown or reserved `uvicorn.Config` keywords, naming them and `source`."""
    known = config_option_names()
    for name in options:
        if name in RESERVED_OPTIONS:
            raise OptionError(f"{source}: option {name!r} is not supported: {RESERVED_OPTIONS[name]}")
        if name not in known:
            close = difflib.get_close_matches(name, sorted(known), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise OptionError(
                f"{source}: unknown server option {name!r}{hint}; server options are the "
                f"keyword arguments of uvicorn.Config (uvicorn {uvicorn.__version__})"
            )
    return dict(options)


def check_timeout(name: str, value: object, source: str = "LiveServer") -> float:
    """A positive number of seconds, or an `OptionError` naming `name` and `source`."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < math.inf:
        raise OptionError(f"{source}: {name} must be a positive number of seconds, got {value!r}")
    return float(value)


def check_flag(name: str, value: object, source: str = "LiveServer") -> bool:
    """A real bool, or an `OptionError` naming `name` and `source` (no truthy strings)."""
    if not isinstance(value, bool):
        raise OptionError(f"{source}: {name} must be True or False, got {value!r}")
    return value
