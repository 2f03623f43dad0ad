"""Serving: the FastAPI app, model runtimes, the online store file and the request log.

It never imports a study: the entry point (:mod:`tabstudy.pipeline.serve`) asks the study plugin
for its online features (:class:`tabstudy.serving.features.OnlineFeatures`) and hands them in.
"""
