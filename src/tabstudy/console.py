"""How a stage's kernel prints Python warnings: one line each, ``Category: message``.

Library warnings (scikit-learn's ConvergenceWarning, say) carry multi-line messages, a file
location and the echoed source line; in a stage's output they read as tracebacks and the runner's
warning list would cut them. The runner sets :data:`ONE_LINE_ENV` in the environment its kernels
inherit, and importing :mod:`tabstudy` then installs :func:`one_line` (interactive sessions keep
Python's own format).
"""

from __future__ import annotations

import os
import warnings

ONE_LINE_ENV = "TABSTUDY_ONE_LINE_WARNINGS"


def one_line(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    line: str | None = None,
) -> str:
    """``Category: message`` with the message's whitespace (newlines too) collapsed."""
    return f"{category.__name__}: {' '.join(str(message).split())}\n"


def install() -> None:
    """Print warnings with :func:`one_line` when :data:`ONE_LINE_ENV` is set."""
    if os.environ.get(ONE_LINE_ENV):
        warnings.formatwarning = one_line  # type: ignore[assignment]
