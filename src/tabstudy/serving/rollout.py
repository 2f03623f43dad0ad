"""Which model answers a request: the champion, or (in a rollout) the challenger beside it.

- ``none``: the champion scores and answers.
- ``shadow``: both score every row; the champion answers; both probabilities are logged.
- ``canary``: both score every row; the challenger answers the rows whose request key hashes
  below ``canary_share`` (SHA-256 of the key fields, so a flight always meets the same model,
  across requests, processes and restarts); both are logged.

Scoring both in a canary too costs one more call of a fast runtime and gives the comparison
report an agreement rate on every row, not only on the challenger's share.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

MODES: tuple[str, ...] = ("none", "shadow", "canary")
CHAMPION, CHALLENGER = "champion", "challenger"
_SCALE = float(2**64)


@dataclass(frozen=True)
class ModelChoice:
    """A bundle the service can answer with, and its registry version (None: unregistered)."""

    bundle_dir: Path
    registry_version: str | None = None
    blessing: Mapping[str, Any] | None = None
    """What the evaluation said of this bundle (the workspace's blessing, or a registered
    version's record: blessed, ROC AUC, gate decision); None when unknown."""


@dataclass(frozen=True)
class Plan:
    """What to serve: the champion, and in a rollout the challenger and the canary share."""

    champion: ModelChoice
    mode: str = "none"
    challenger: ModelChoice | None = None
    canary_share: float = 0.0

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"rollout mode {self.mode!r}; use one of {', '.join(MODES)}")
        if self.mode != "none" and self.challenger is None:
            raise ValueError(f"rollout {self.mode!r} needs a challenger")
        if not 0.0 <= self.canary_share <= 1.0:
            raise ValueError(f"canary_share {self.canary_share} is not between 0 and 1")


def _text(value: Any) -> str:
    """One key field as text, the same for a single row and a batch column (dates in ISO
    8601, whatever type validation gave them)."""
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return "" if value is None else str(value)


FEW = 64
"""Up to this many rows, :func:`request_keys` converts every value."""


def request_keys(columns: Mapping[str, Sequence[Any]], fields: Sequence[str]) -> list[str]:
    """Each row's request key: its ``fields`` joined with ``|``."""
    if len(next(iter(columns.values()))) <= FEW:
        texts = [list(map(_text, columns[f])) for f in fields]
    else:  # each distinct value converted once (a batch repeats airports, dates)
        texts = []
        for f in fields:
            codes, uniques = pd.factorize(np.asarray(columns[f], dtype=object))  # None: -1
            texts.append(np.array([*map(_text, uniques), ""], dtype=object)[codes].tolist())
    return list(map("|".join, zip(*texts, strict=True)))


def key_fraction(key: str) -> float:
    """A key's stable position in [0, 1): the first 8 bytes of its SHA-256."""
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / _SCALE


def canary_mask(keys: Sequence[str], share: float) -> np.ndarray:
    """True for the rows the challenger answers (their key's fraction is below ``share``)."""
    return np.fromiter((key_fraction(k) < share for k in keys), dtype=bool, count=len(keys))


def served_by(plan_mode: str, keys: Sequence[str], share: float) -> np.ndarray:
    """Which rows the challenger answers under ``plan_mode`` (none for ``none`` and
    ``shadow``)."""
    if plan_mode == "canary":
        return canary_mask(keys, share)
    return np.zeros(len(keys), dtype=bool)
