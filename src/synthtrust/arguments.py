"""Command-line arguments checked before a command runs: unknown flags, surplus arguments and wrong types.

python-fire binds what it can and hands the rest to the command's *result*, so ``synthtrust train-generator
--parms tiny.yaml`` would first train with the default params and only then complain about ``--parms``.
:func:`check_argv` refuses such a line before anything runs, naming the flag and the nearest known one;
:func:`typed` validates the values fire parsed against the command's type hints (pydantic's
``validate_call``), so ``--version abc`` is refused naming ``--version`` instead of failing deep inside.
"""

from __future__ import annotations

import difflib
import inspect
import re
from collections.abc import Callable
from typing import Any

from pydantic import ConfigDict, ValidationError, validate_call

from synthtrust.errors import SynthtrustError


class UsageError(SynthtrustError):
    """The command line names an unknown flag, too many arguments or a value of the wrong type (exit 2)."""


_NUMBER = re.compile(r"^-?\d+(\.\d*)?([eE][-+]?\d+)?$")
HELP = {"-h", "--help"}


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def check_argv(command: str, function: Callable[..., Any], args: list[str]) -> None:
    """Refuse ``args`` (what follows the command's name) unless every flag names a parameter of ``function``
    and no more positional values are given than it has parameters left. Flags are ``--name value``,
    ``--name=value``, ``--name`` / ``--noname`` for booleans; after ``--`` come fire's own flags."""
    signature = inspect.signature(function).parameters
    variadic = any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in signature.values())  # `score FILE...`
    parameters = {name: p for name, p in signature.items() if p.kind is not inspect.Parameter.VAR_POSITIONAL}
    known = {name.replace("-", "_") for name in parameters}
    booleans = {name for name, p in parameters.items() if p.annotation in (bool, "bool")}  # `--noquiet`
    given: set[str] = set()
    positional: list[str] = []
    i = 0
    while i < len(args):
        token = args[i]
        if token == "--" or token in HELP:
            break
        if token.startswith("-") and not _NUMBER.match(token):
            name, has_value, _ = token.lstrip("-").partition("=")
            name = name.replace("-", "_")
            if not token.startswith("--") and len(name) == 1:  # fire's short form: a unique first letter
                starting = [k for k in known if k.startswith(name)]
                name = starting[0] if len(starting) == 1 else name
            if name.startswith("no") and name[2:] in booleans and name not in known:
                name, has_value = name[2:], True
            if name not in known:
                close = difflib.get_close_matches(name, sorted(known), n=1)
                hint = f" (did you mean {_flag(close[0])}?)" if close else ""
                flags = ", ".join(_flag(k) for k in parameters) or "none"
                raise UsageError(f"synthtrust {command}: unknown flag {token.split('=')[0]}{hint}; "
                                 f"its flags: {flags}")
            if name in given:
                raise UsageError(f"synthtrust {command}: {_flag(name)} given twice")
            given.add(name)
            nxt = args[i + 1] if i + 1 < len(args) else None
            # like fire, a flag without "=" takes the next value, booleans included (`--quiet DIR` sets quiet=DIR)
            takes_next = not has_value and nxt is not None and (not nxt.startswith("-") or _NUMBER.match(nxt))
            i += 2 if takes_next else 1
            continue
        positional.append(token)
        i += 1
    free = [name for name in parameters if name not in given]
    if len(positional) > len(free) and not variadic:
        surplus = positional[len(free):]
        raise UsageError(f"synthtrust {command}: unexpected argument{'s' if len(surplus) > 1 else ''} "
                         f"{' '.join(surplus)}")


#: fire parses values as Python literals: ``--reason 2026`` arrives as the int 2026 for a str parameter
_CONFIG = ConfigDict(coerce_numbers_to_str=True)


def typed(function: Callable[..., Any]) -> Callable[..., Any]:
    """``function`` with its arguments validated against its type hints; a bad value raises UsageError
    naming the flag."""
    validated = validate_call(config=_CONFIG)(function)

    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            return validated(*args, **kwargs)
        except ValidationError as exc:
            if exc.title != validated.__name__:  # raised inside the command, not by its arguments
                raise
            error = exc.errors(include_url=False)[0]
            where = error["loc"][0] if error["loc"] else None
            if isinstance(where, int):  # a positional value: its parameter's name
                where = list(inspect.signature(function).parameters)[where]
            flag = _flag(str(where)) if where is not None else "arguments"
            raise UsageError(f"{flag}: {error['msg']} (got {error['input']!r})") from None

    call.__signature__ = inspect.signature(function)  # type: ignore[attr-defined]
    call.__doc__, call.__name__ = function.__doc__, function.__name__
    return call
