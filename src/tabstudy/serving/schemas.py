"""Request and response models. The batch request is generated from the study's one-row model
(the same fields and constraints, one list per field), and a table study's one-row model from
its feature spec, so no request field is written twice."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, create_model, model_validator

from tabstudy.spec import FeatureSet


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
        described = info.description or name
        if info.is_required():
            fields[name] = (
                list[item],  # type: ignore[valid-type]
                Field(min_length=1, max_length=max_rows, description=described),
            )
        else:
            fields[name] = (
                list[item] | None,  # type: ignore[valid-type]
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
        kind = str | None if f.kind == "categorical" else float | None
        fields[f.name] = (kind, Field(default=None, description=f.description))
    model = create_model("TableRow", __config__=ConfigDict(extra="forbid"), **fields)
    model.model_config["json_schema_extra"] = {"examples": [example]}
    model.model_rebuild(force=True)
    return model


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
