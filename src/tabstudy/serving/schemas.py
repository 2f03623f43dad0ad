"""Request and response models. The batch request is generated from the study's one-row model
(the same fields and constraints, one list per field), and a table study's one-row model from
its feature spec, so no request field is written twice."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, time
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    WrapValidator,
    create_model,
    model_validator,
)

from tabstudy.spec import FeatureSet

FROM_TEXT = "from_text"
"""Validation context key: the values come from a file with text columns (a CSV), where a number
written as text is how numbers are written (the batch scorer sets it; the JSON API does not)."""


def _refuse(kinds: tuple[type, ...], expected: str) -> Callable[[Any, ValidationInfo], Any]:
    """A before-validator that refuses values of ``kinds`` (JSON's other types), where pydantic's
    lax mode would coerce them: ``"3"`` into a number, ``0`` into 1970-01-01. Text is let
    through to pydantic's own parsing when the context says the values come from text
    (:data:`FROM_TEXT`)."""

    def check(value: Any, info: ValidationInfo) -> Any:
        from_text = isinstance(value, str) and bool((info.context or {}).get(FROM_TEXT))
        if isinstance(value, kinds) and not from_text:
            raise ValueError(f"must be {expected}, not {type(value).__name__} {value!r}")
        return value

    check.refused = kinds  # type: ignore[attr-defined]  (read by :func:`columnar`)
    return check


def _refusals(metadata: list[Any]) -> tuple[tuple[type, ...], list[Any]]:
    """The types a field's :func:`_refuse` validators refuse, and its other metadata."""
    kinds: tuple[type, ...] = ()
    rest = []
    for m in metadata:
        refused = getattr(getattr(m, "func", None), "refused", None)
        if isinstance(m, BeforeValidator) and refused is not None:
            kinds += refused
        else:
            rest.append(m)
    return kinds, rest


def _at_once(kinds: tuple[type, ...], plain: Any, min_rows: int, max_rows: int) -> WrapValidator:
    """A batch column's refusals checked over the whole list: one Python scan, then pydantic
    validates the items without calling back into Python for each (a 10,000-row flights batch
    has three such columns: validating it took 7.1 ms, now 4.0). A column with a refused value,
    or any other error, is validated item by item as before, so the errors and their locations
    are the same; so is a list outside ``min_rows``..``max_rows`` (the wrapper runs outside the
    list's own length check)."""
    adapter = TypeAdapter(list[plain])  # type: ignore[valid-type]

    def validate(values: Any, handler: Any, info: ValidationInfo) -> Any:
        quick = (
            type(values) is list
            and min_rows <= len(values) <= max_rows
            and not (info.context or {}).get(FROM_TEXT)
        )
        if quick and not any(isinstance(v, kinds) for v in values):
            try:
                return adapter.validate_python(values)
            except ValidationError:
                pass
        return handler(values)

    return WrapValidator(validate)


Number = Annotated[float, BeforeValidator(_refuse((str, bool), "a JSON number"))]
"""A number as JSON writes it (text such as ``"1.5"`` is refused, not coerced)."""
Integer = Annotated[int, BeforeValidator(_refuse((str, bool), "a JSON integer"))]
"""An integer as JSON writes it (``3`` or ``3.0``; text and booleans are refused)."""
DateTime = Annotated[
    datetime, BeforeValidator(_refuse((int, float), "a date-time string, e.g. 2013-12-23T18:04:00"))
]
"""A date-time given as text (ISO 8601); a number is refused, never read as seconds since 1970."""
TimeOfDay = Annotated[time, BeforeValidator(_refuse((int, float), "a time of day, e.g. 21:13"))]
"""A time of day given as text (HH:MM[:SS]); a number is refused."""


class _Columns(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="after")
    def _same_length(self) -> _Columns:
        lengths = {k: len(v) for k, v in self.__dict__.items() if v is not None}
        if len(set(lengths.values())) > 1:
            raise ValueError(f"every column needs the same number of rows; got {lengths}")
        return self

    def columns(self) -> dict[str, list[Any]]:
        """The columns that were given."""
        return {k: v for k, v in self.__dict__.items() if v is not None}


def columnar(row: type[BaseModel], max_rows: int) -> type[BaseModel]:
    """The batch twin of ``row``: each field a list (at most ``max_rows`` items) of the same type
    and constraints; optional fields may be left out."""
    fields: dict[str, Any] = {}
    for name, info in row.model_fields.items():
        item = Annotated[info.annotation, *info.metadata] if info.metadata else info.annotation
        kinds, rest = _refusals(list(info.metadata))
        column: Any = list[item]  # type: ignore[valid-type]
        if kinds:
            plain = Annotated[info.annotation, *rest] if rest else info.annotation
            least = 1 if info.is_required() else 0
            column = Annotated[column, _at_once(kinds, plain, least, max_rows)]
        described = info.description or name
        if info.is_required():
            fields[name] = (
                column,
                Field(min_length=1, max_length=max_rows, description=described),
            )
        else:
            fields[name] = (
                column | None,
                Field(default=None, max_length=max_rows, description=described),
            )
    model = create_model(f"{row.__name__}Batch", __base__=_Columns, **fields)
    examples = (row.model_config.get("json_schema_extra") or {}).get("examples", [])
    model.model_config["json_schema_extra"] = {
        "examples": [{k: [v] for k, v in e.items()} for e in examples]
    }
    model.__doc__ = f"Up to {max_rows:,} rows of {row.__name__}, one list per field."
    model.model_rebuild(force=True)
    return model


def table_row_model(spec: FeatureSet, example: dict[str, Any]) -> type[BaseModel]:
    """One row of a table study: every feature of the spec, categorical as text and numeric as
    a number, each optional (missing values are served as in training)."""
    fields: dict[str, Any] = {}
    for f in spec.features:
        kind = str | None if f.kind == "categorical" else Number | None
        fields[f.name] = (kind, Field(default=None, description=f.description))
    model = create_model("TableRow", __config__=ConfigDict(extra="forbid"), **fields)
    model.model_config["json_schema_extra"] = {"examples": [example]}
    model.model_rebuild(force=True)
    return model


class Problem(BaseModel):
    """An error the service answers in words."""

    detail: str


STALE = (
    "event sources of the online store with no data for this row's prediction time (past their "
    "watermark by more than serve.max_staleness_hours, or before their first event): its "
    "features from them are missing or stale"
)


class Prediction(BaseModel):
    """The model's answer for one row."""

    request_id: str = Field(description="id of this request (also in the request log)")
    probability: float = Field(description="probability of the positive class")
    decision: bool = Field(description="probability >= threshold")
    threshold: float = Field(description="the answering bundle's decision threshold")
    model_version: str = Field(description="the model bundle that answered")
    variant: str = Field(default="champion", description="champion, or challenger (canary)")
    registry_version: str | None = Field(
        default=None, description="the answering bundle's registry version (None: unregistered)"
    )
    stale: list[str] = Field(default_factory=list, description=STALE)


class BatchPrediction(BaseModel):
    """The model's answers for a batch, in row order."""

    request_id: str
    rows: int
    probabilities: list[float]
    decisions: list[bool]
    threshold: float = Field(description="the champion's threshold (a canary row's decision "
                             "uses the challenger's)")  # fmt: skip
    model_version: str = Field(description="the champion bundle")
    variants: list[str] | None = Field(
        default=None, description="who answered each row (in a rollout): champion or challenger"
    )
    stale: list[list[str]] = Field(default_factory=list, description=f"per row: {STALE}")


class Contribution(BaseModel):
    """One feature's part in a prediction (occlusion against the training reference)."""

    feature: str
    value: Any = Field(description="the row's value of the feature, as the model received it")
    reference: Any = Field(description="the training reference it was replaced by")
    contribution: float = Field(
        description="probability of the row minus the probability with this feature at its "
        "reference (positive: the value pushes the probability up)"
    )


class Explanation(BaseModel):
    """A prediction and the features that drove it."""

    request_id: str
    probability: float = Field(description="the champion's probability for the row")
    baseline: float = Field(description="the probability with every feature at its reference")
    method: str = Field(default="occlusion", description="how contributions are measured")
    model_version: str = Field(description="the champion bundle that was explained")
    stale: list[str] = Field(default_factory=list, description=STALE)
    contributions: list[Contribution] = Field(description="largest absolute contribution first")
