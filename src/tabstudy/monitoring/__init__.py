"""Monitoring a deployed model: :mod:`.drift` (PSI with bins fixed on the training reference),
:mod:`.rollout` (the canary/shadow comparison of two models on the same served rows),
:mod:`.windows` (drift tests and effect sizes per window), :mod:`.performance` (realised and
estimated performance), :mod:`.rules` (the alert rules, as data), :mod:`.alerts` (their pieces),
:mod:`.plots` and :mod:`.report` (one report for the monitor stage and for the request log).

``from tabstudy import monitoring`` gives the two light modules: ``monitoring.drift``,
``monitoring.rollout``.
"""

from tabstudy.monitoring import drift, rollout

__all__ = ["drift", "rollout"]
