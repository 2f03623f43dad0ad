"""How the model card writes numbers and intervals."""

from __future__ import annotations

import math
from typing import Any


def number(value: Any, spec: str = ".4f") -> str:
    """``value`` formatted by ``spec`` ("n/a" for None or NaN): the templates' ``num`` filter."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return format(value, spec)


def interval(lo: Any, hi: Any) -> str:
    """A signed 95% interval, or "n/a" where none was computed (the gate bootstraps only the
    slices whose drop exceeds the allowed one): the templates' ``ci`` filter."""
    if number(lo) == "n/a" or number(hi) == "n/a":
        return "n/a"
    return f"[{lo:+.4f}, {hi:+.4f}]"
