"""schemathesis hooks for the service's contract test (``SCHEMATHESIS_HOOKS``).

Two rules of the flights endpoints cannot be written in JSON Schema, so a body can be valid by
the schema and still get the documented 422: a batch's columns must all have the same length,
and ``as_of`` must not be after ``sched_dep``. Cases that break them are not generated; every
other case, valid or not, is, and every check runs on it (``--checks all``).
"""

from __future__ import annotations

from typing import Any

import schemathesis
from pydantic import ValidationError

from tabstudy.serving.features import RowError
from tabstudy.serving.schemas import columnar
from tabstudy.studies.flights.online import FlightRequest, schedule_rows


def breaks_a_cross_field_rule(body: Any) -> bool:
    """Whether ``body`` (one row or a batch) is schema-valid but breaks one of the two rules."""
    if not isinstance(body, dict):
        return False
    lists = [v for v in body.values() if isinstance(v, list)]
    if lists and len({len(v) for v in lists}) > 1:
        return True
    try:
        if lists:
            parsed = columnar(FlightRequest, 10**9).model_validate(body)
            columns = {k: v for k, v in dict(parsed).items() if v is not None}
        else:
            columns = {k: [v] for k, v in dict(FlightRequest.model_validate(body)).items()}
        schedule_rows(columns, 2.0)
    except (ValidationError, ValueError, OverflowError) as err:
        return isinstance(err, RowError)
    return False


@schemathesis.hook
def filter_case(context: Any, case: Any) -> bool:
    """Keep every generated case except those whose body breaks a rule the schema cannot
    express (applied in the coverage and the fuzzing phase)."""
    return not breaks_a_cross_field_rule(case.body)
