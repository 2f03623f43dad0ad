"""What the service loads and answers with: its settings, each model variant (a verified
bundle and its runtime) and the state a start-up or a reload builds."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from tabstudy.data.store import bundle_digest
from tabstudy.models.bundle import Bundle, load_bundle
from tabstudy.serving import explain, freshness, requestlog
from tabstudy.serving.features import OnlineFeatures
from tabstudy.serving.requestlog import RequestLog
from tabstudy.serving.rollout import CHALLENGER, CHAMPION, ModelChoice, Plan
from tabstudy.serving.runtime import Runtime, load_runtime
from tabstudy.spec import MISSING_CATEGORY


@dataclass(frozen=True)
class ServeSettings:
    """How to serve: what to load (``plan``, called at start-up and on every reload, so a
    promotion or rollback in the registry takes effect without a restart), the study's online
    features (built from the verified champion bundle; ``check`` refuses a bundle the store
    cannot serve), the runtime, the request log (rotation and queue), limits, what to do with
    stale features (``staleness``: flag or refuse; ``max_staleness_hours`` per source) and the
    optional bearer token."""

    plan: Callable[[], Plan]
    request_model: type[BaseModel]
    online: Callable[[Bundle], OnlineFeatures]
    log_dir: Path
    runtime: str
    max_body_bytes: int
    max_batch_rows: int
    token: str | None = None
    extra_metadata: Mapping[str, Any] = field(default_factory=dict)
    check: Callable[[Bundle], None] = lambda bundle: None
    staleness: str = "flag"
    max_staleness_hours: Mapping[str, float] = field(default_factory=dict)
    log_max_bytes: int = 64 * 2**20
    log_keep: int = 5
    log_queue: int = 10_000


class Variant:
    """One model the service answers with: verified bundle, runtime, versions, threshold."""

    def __init__(self, name: str, choice: ModelChoice, runtime: str) -> None:
        self.name = name
        self.bundle = load_bundle(choice.bundle_dir)  # BundleError names the file
        self.runtime: Runtime = load_runtime(runtime, self.bundle)
        self.version = bundle_digest(choice.bundle_dir)[:12]
        self.registry_version = choice.registry_version
        self.blessing = dict(choice.blessing) if choice.blessing is not None else None
        self.threshold = float(self.bundle.threshold["value"])

    def describe(self) -> dict[str, Any]:
        """Which model this is, for ``/v1/metadata`` and the request log."""
        return {"model_version": self.version, "registry_version": self.registry_version,
                "runtime": self.runtime.name, "threshold": self.threshold}  # fmt: skip


class State:
    """What the lifespan (and each reload) loads: the plan's variants, the online features
    (built for the champion; the challenger must be servable from the same store) and the
    request log (shared across reloads)."""

    def __init__(
        self, settings: ServeSettings, log: RequestLog | None = None, worker: int = 0
    ) -> None:
        plan = settings.plan()
        self.mode, self.share = plan.mode, plan.canary_share
        self.champion = Variant(CHAMPION, plan.champion, settings.runtime)
        self.challenger: Variant | None = None
        if plan.mode != "none" and plan.challenger is not None:
            self.challenger = Variant(CHALLENGER, plan.challenger, settings.runtime)
            settings.check(self.challenger.bundle)  # StoreError names the store file
        self.bundle = self.champion.bundle
        self.online = settings.online(self.bundle)  # StoreError names the store file
        self.version, self.threshold = self.champion.version, self.champion.threshold
        self.references = explain.reference_values(self.bundle.spec, self.bundle.reference)
        self.reference_positive_share = float(self.bundle.threshold.get("positive_share", "nan"))
        reference = self.bundle.reference.get("categorical", {})
        self.vocab = {name: {*values, MISSING_CATEGORY} for name, values in reference.items()}
        model = settings.request_model
        self.key_fields = tuple(getattr(model, "request_key", ()) or model.model_fields)
        self.sources = freshness.sources(self.online.event_sources(),
                                         settings.max_staleness_hours)  # fmt: skip
        self.refuse_stale = settings.staleness == "refuse"
        self.log = log or RequestLog(settings.log_dir, settings.log_max_bytes,
                                     settings.log_keep, settings.log_queue,
                                     name=requestlog.worker_file(worker))  # fmt: skip
        self.ready = False

    def variants(self) -> list[Variant]:
        """The champion, then the challenger when a rollout is on."""
        return [self.champion] + ([self.challenger] if self.challenger else [])

    def warm_up(self) -> None:
        """Call every runtime once on the request model's example (graph tracing happens
        before the first request), and let ``auto`` check its two runtimes agree."""
        example = self.online.request_model.model_config.get("json_schema_extra") or {}
        first = example.get("examples", [{}])[0]
        if not first:
            return
        row = self.online.request_model.model_validate(first)
        warm = self.online.features({k: [v] * 2 for k, v in dict(row).items()})
        for v in self.variants():
            v.runtime.predict(warm)
            check = getattr(v.runtime, "check", None)
            if check is not None:
                check(warm)
