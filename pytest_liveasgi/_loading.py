"""Turning what the user gave (an object or "package.module:attribute") into an app."""

from __future__ import annotations

import importlib
import traceback
from typing import Any

from ._errors import StartupError

IMPORT_STRING_FORM = "'package.module:attribute'"


def describe_app(app: object) -> str:
    """A short name for an app, for messages: the import string or module.qualname."""
    if isinstance(app, str):
        return repr(app)
    name = getattr(app, "__qualname__", None)
    if name is None:
        return f"<{type(app).__module__}.{type(app).__qualname__} object>"
    return f"{getattr(app, '__module__', '?')}.{name}"


def load_app(app: object, *, factory: bool = False) -> Any:
    """Return the app object for `app`, importing it when it is an import string.

    Every failure raises `StartupError` naming the app and the cause. With
    `factory=True` the loaded object is called with no arguments and its result is
    the app.
    """
    loaded = import_app(app) if isinstance(app, str) else app
    if factory:
        loaded = _call_factory(loaded, describe_app(app))
    if not callable(loaded):
        raise StartupError(
            f"{describe_app(app)} is not an ASGI application: it is a {type(loaded).__name__}, which is not callable"
        )
    return loaded


def import_app(import_string: str) -> Any:
    module_name, colon, attribute_path = import_string.partition(":")
    if not colon or not module_name or not attribute_path:
        raise StartupError(f"app {import_string!r} is not an import string of the form {IMPORT_STRING_FORM}")
    module = _import_module(module_name, import_string)
    found: Any = module
    walked = module_name
    for attribute in attribute_path.split("."):
        try:
            found = getattr(found, attribute)
        except AttributeError:
            import difflib  # only on this error path: the plugin imports this module in every run

            close = difflib.get_close_matches(attribute, [name for name in dir(found) if not name.startswith("__")], 1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise StartupError(
                f"cannot load app {import_string!r}: {walked!r} has no attribute {attribute!r}{hint}"
            ) from None
        walked = f"{walked}.{attribute}"
    return found


def _import_module(module_name: str, import_string: str) -> Any:
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and (module_name == exc.name or module_name.startswith(exc.name + ".")):
            raise StartupError(
                f"cannot load app {import_string!r}: no module named {exc.name!r} "
                "(is the package installed, or its folder on sys.path / pytest's pythonpath?)"
            ) from None
        raise StartupError(
            f"cannot load app {import_string!r}: importing {module_name!r} failed\n{_format_cause(exc)}"
        ) from exc
    except SyntaxError as exc:
        raise StartupError(
            f"cannot load app {import_string!r}: syntax error in {exc.filename}, "
            f"line {exc.lineno}: {exc.msg}\n{_format_cause(exc)}"
        ) from exc
    except (Exception, SystemExit) as exc:
        raise StartupError(
            f"cannot load app {import_string!r}: importing {module_name!r} raised "
            f"{type(exc).__name__}: {exc}\n{_format_cause(exc)}"
        ) from exc


def _call_factory(factory: Any, description: str) -> Any:
    if not callable(factory):
        raise StartupError(
            f"app factory {description} is not callable (factory=True needs a function that returns the app)"
        )
    try:
        return factory()
    except Exception as exc:
        raise StartupError(
            f"app factory {description} raised {type(exc).__name__}: {exc}\n{_format_cause(exc)}"
        ) from exc


def _format_cause(exc: BaseException) -> str:
    """The traceback of `exc` without the importlib frames, indented, for messages."""
    frames = [
        frame
        for frame in traceback.extract_tb(exc.__traceback__)
        if "importlib" not in frame.filename and "pytest_liveasgi" not in frame.filename
    ]
    lines = traceback.format_list(frames) + traceback.format_exception_only(type(exc), exc)
    return "".join("    " + line for chunk in lines for line in chunk.splitlines(keepends=True))
