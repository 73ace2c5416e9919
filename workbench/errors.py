"""One exception type for problems a user can fix; the CLI prints these without a traceback."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class WorkbenchError(ValueError):
    """Bad input or state that the user can fix; the message names the problem and the fix."""


class WorkbenchWarning(UserWarning):
    """Something the user should know that does not stop the work (the CLI prints it as one line)."""


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """A ' Did you mean ...?' suffix for an unknown name, or '' when nothing is close."""
    known = list(known)
    close = [k for k in known if k.startswith(name) or name.startswith(k)] if name else []
    close = close or difflib.get_close_matches(name, known, n=1, cutoff=0.4)
    return f" Did you mean {close[0]!r}?" if close else ""
