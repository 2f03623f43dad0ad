"""The model card (Markdown, HTML and Model Card Toolkit JSON), filled only from the pipeline's own
outputs.

- :mod:`.facts`   what it shows (:class:`CardFacts`), read from the stages' outputs
- :mod:`.text`    its sentences, computed from the facts
- :mod:`.render`  Markdown and HTML
- :mod:`.mct`     JSON in the Model Card Toolkit schema
- :mod:`.format`  numbers and intervals
"""

from tabstudy.model_card.facts import (
    SLICE_COLUMNS,
    CardFacts,
    ModelCardWarning,
    calibration_summary,
    coverage,
    data_facts,
    for_study,
    leakage_text,
    min_slice_rows,
    optional_csv,
    optional_json,
    slice_label,
    slice_results,
)
from tabstudy.model_card.format import interval, number
from tabstudy.model_card.mct import MCT_SCHEMA_VERSION, card_json, performance_metrics
from tabstudy.model_card.render import CODE, code_html, render
from tabstudy.model_card.text import (
    ARCHITECTURE,
    SENTENCE,
    derived,
    ethical_considerations,
    findings,
    imbalance_sentence,
    promotion_sentence,
    split_use,
    tradeoffs,
)

__all__ = [
    "ARCHITECTURE",
    "CODE",
    "MCT_SCHEMA_VERSION",
    "SENTENCE",
    "SLICE_COLUMNS",
    "CardFacts",
    "ModelCardWarning",
    "calibration_summary",
    "card_json",
    "code_html",
    "coverage",
    "data_facts",
    "derived",
    "ethical_considerations",
    "findings",
    "for_study",
    "imbalance_sentence",
    "interval",
    "leakage_text",
    "min_slice_rows",
    "number",
    "optional_csv",
    "optional_json",
    "performance_metrics",
    "promotion_sentence",
    "render",
    "slice_label",
    "slice_results",
    "split_use",
    "tradeoffs",
]
