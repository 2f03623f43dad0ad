"""``python -m tabstudy``: the ``tabstudy`` command line (:mod:`tabstudy.cli`)."""

from tabstudy.cli import run

run()
