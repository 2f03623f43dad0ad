"""tabstudy: a reproducible, notebook-driven tabular ML study.

The notebooks in ``notebooks/`` are thin: they hold parameters, narrative, tables and plots, and
call into this package for every piece of logic. One module per role:

- :mod:`tabstudy.numerics`   numerics that do not depend on the CPU (applied on import)
- :mod:`tabstudy.paths`      every file location, from one place
- :mod:`tabstudy.config`     params.yaml sections as typed, frozen, validated objects
- :mod:`tabstudy.artifacts`  atomic, stage-transactional writes of data, JSON, figures
- :mod:`tabstudy.data`       ingest and schema validation of the raw tables
- :mod:`tabstudy.eda`        exploratory summaries
- :mod:`tabstudy.features`   the feature spec, label, point-in-time features, time split
- :mod:`tabstudy.models`     baselines, the Keras model, tuning
- :mod:`tabstudy.evaluation` metrics, curves, bootstrap intervals, the blessing gate
- :mod:`tabstudy.model_card` the Markdown/HTML model card
- :mod:`tabstudy.monitoring` feature drift
- :mod:`tabstudy.reporting`  notebook-to-HTML rendering and the report index
- :mod:`tabstudy.pipeline`   the stage registry and the runner DVC calls
"""

from tabstudy import console as _console
from tabstudy import numerics as _numerics

_numerics.apply()  # before NumPy or TensorFlow loads; the start-up hook usually did it already
_console.install()  # a stage's kernel prints each warning on one line

__version__ = "0.1.0"
