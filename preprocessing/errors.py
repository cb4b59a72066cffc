"""One error type for bad user input, and the CLI wrapper that turns it into a one-line message.

Anything a user can get wrong (a malformed arch string, an unknown op, a corrupt benchmark file,
a bad flag value) raises :class:`InputError` with a message naming the problem and the fix.
Entry points wrap their ``main`` with :func:`cli_entry` so the user sees ``error: ...`` and exit
status 2 instead of a traceback.
"""
from __future__ import annotations

import functools
import sys


class InputError(ValueError):
    """Bad input from the user: the message names what is wrong and how to fix it."""


def require_at_least_one(args, names) -> None:
    """One ``error:`` line for the first flag in ``names`` (argparse dest names) whose value is below 1."""
    for name in names:
        if getattr(args, name) < 1:
            raise InputError(f"--{name.replace('_', '-')} must be at least 1")


def cli_entry(main):
    """Decorate a CLI ``main``: InputError -> one line on stderr and exit status 2."""

    @functools.wraps(main)
    def wrapper(*args, **kwargs):
        try:
            return main(*args, **kwargs)
        except InputError as exc:
            print(f"error: {exc}", file=sys.stderr)
            sys.exit(2)

    return wrapper
