"""Time as an axis: rolling-origin evaluation of every candidate on test folds no tuner saw
(:mod:`.folds`, :mod:`.candidates`, :mod:`.rolling`) and a backtest of retraining policies over
the months of the data (:mod:`.retraining`).

It sits above the stage logic (models, evaluation, monitoring) and below serving; it never imports
a study: the caller passes the processed rows, the :class:`~tabstudy.spec.FeatureSet` and the
tuned settings.
"""
