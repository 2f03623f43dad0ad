"""Where work runs outside this process: process supervision for the multi-worker trainer and
keras-tuner's chief and workers (:mod:`tabstudy.engines.processes`)."""
