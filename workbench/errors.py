"""One exception type for problems a user can fix; the CLI prints these without a traceback."""

from __future__ import annotations

import difflib
import shlex
from collections.abc import Iterable


class WorkbenchError(ValueError):
    """Bad input or state that the user can fix; the message names the problem and the fix."""


class WorkbenchWarning(UserWarning):
    """Something the user should know that does not stop the work (the CLI prints it as one line)."""


MIN_PREFIX = 3  # a prefix this long or longer names its completion ("calib" -> "calibrate"); "a" names nothing


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """A ' Did you mean ...?' suffix for an unknown name, or '' when nothing is close: a prefix either way (of at
    least ``MIN_PREFIX`` characters), or difflib's ratio >= 0.6 (looser suggests 'nonexistent' -> 'elements')."""
    known = list(known)
    close = [k for k in known if min(len(k), len(name)) >= MIN_PREFIX and (k.startswith(name) or name.startswith(k))]
    close = close or difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    return f" Did you mean {close[0]!r}?" if close else ""


def command_line(*words: object) -> str:
    """A command for a message, as a shell reads it: each word quoted where it needs it (a path with spaces stays
    one argument), e.g. ``command_line("workbench", "probe", run.path)``."""
    return shlex.join(str(word) for word in words)
