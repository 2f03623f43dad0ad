"""The documentation: the README's generated findings block (:mod:`.readme`) and the offline
documentation site (:mod:`.build`: docs/ pages, the executed notebooks and the model card as one
Sphinx site; :mod:`.links`: the offline link check of what it built).

Everything here reads what a run wrote under ``reports/``; nothing here runs a stage.
"""
