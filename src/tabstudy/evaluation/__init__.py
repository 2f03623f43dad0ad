"""Honest evaluation, by role: :mod:`.metrics` (scores with bootstrap intervals, curves, paired
comparisons), :mod:`.slices`, :mod:`.thresholds` (the decision threshold), :mod:`.findings`
(the sentences) and :mod:`.gates` (the blessing and the champion gate), apart from the metrics
they read.

``from tabstudy import evaluation`` gives the five modules: ``evaluation.metrics.bootstrap_auc``,
``evaluation.gates.bless``.
"""

from tabstudy.evaluation import findings, gates, metrics, slices, thresholds

__all__ = ["findings", "gates", "metrics", "slices", "thresholds"]
