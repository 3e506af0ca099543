"""How commands report a problem the user can fix: one line, exit status 2, no traceback."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager


class UserError(Exception):
    """A problem in the user's input or set-up; its message is the whole report."""


def fail(message: str) -> None:
    print(f"themis: error: {message}", file=sys.stderr)
    raise SystemExit(2)


@contextmanager
def user_errors(*kinds: type[BaseException]) -> Iterator[None]:
    """Turn the given exception kinds (and `UserError`) into the one-line report."""
    try:
        yield
    except (UserError, *kinds) as err:
        fail(str(err))

