"""The pipeline, split by role (each module is a dependency only of what executes it):

- :mod:`.stages`     the stage registry: notebook, params sections, data deps, outputs
- :mod:`.runner`     runs one stage's notebook with papermill, transactionally (DVC calls it)
- :mod:`.source`     stamps the files the configured study reads (the ``source`` stage)
- :mod:`.index`      the report index page (the ``index`` stage)
- :mod:`.dvcgen`     generates dvc.yaml from the registry (with :mod:`.plots`, the DVC plots)
- :mod:`.notebooks`  parameters cells from params.yaml, nbval reference outputs

People run them through one command line, ``tabstudy`` (:mod:`tabstudy.cli`).

This file imports nothing, so that depending on the package costs a stage nothing.
"""
