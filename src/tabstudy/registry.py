"""The model registry: GTO for versions and stages, DVC for the bytes.

A registered version is a GTO git tag (``<artifact>@v0.0.N``) on the commit whose ``dvc.lock``
records the bundle; its message is a JSON record (bundle digest, test ROC AUC and interval, the
gate's decision). Stages are GTO assignments: ``prod`` holds the champion (the greatest version
assigned there and not unassigned), ``staging`` the challenger that shadow and canary rollouts
serve. A rollback unassigns the champion from ``prod``; the previous one answers again.

The bundle's bytes stay in DVC: :func:`fetch` restores a version from the DVC cache (or remote)
of its commit into ``models/registry/<artifact>/<digest>/`` and verifies every file's SHA-256
before anything uses it. Nothing here reaches the network.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tabstudy import artifacts, paths, provenance
from tabstudy.data.store import bundle_digest
from tabstudy.models.bundle import BundleError, load_bundle

PROD = "prod"
STAGING = "staging"
DIGEST_CHARS = 12
"""How many hex digits of a bundle digest name it in the store and in messages."""


class RegistryError(RuntimeError):
    """A registry operation that cannot be done; the message says why and what to run."""


class UnrecordedBundle(RegistryError):
    """The workspace bundle is recorded by no commit: neither HEAD's dvc.lock nor a DVC
    experiment's. ``changes``: per stage, the outputs whose hash differs from HEAD's dvc.lock."""

    def __init__(self, md5: str, changes: dict[str, list[str]]) -> None:
        self.md5, self.changes = md5, changes
        differ = ", ".join(f"{s} ({len(outs)})" for s, outs in changes.items()) or "none"
        super().__init__(
            f"{_bundle_rel()} (dvc.lock md5 {md5[:12]}) is recorded by neither HEAD nor any DVC "
            f"experiment.\nStages whose outputs differ from the committed dvc.lock (how many): "
            f"{differ}; `git diff dvc.lock` lists them.\n"
            "Why: a parameter, the data or the code changed since the last commit; or this "
            "machine computed other bits (numerics not pinned: see docs/determinism.md).\n"
            "Ways on: commit dvc.lock (git commit), then `make promote`; or run the change as "
            "an experiment (`dvc exp run`), then `make promote`."
        )


@dataclass(frozen=True)
class Version:
    """One registered version: its name, commit, record (the tag message) and active stages."""

    artifact: str
    version: str
    commit: str
    record: dict[str, Any] = field(default_factory=dict)
    stages: tuple[str, ...] = ()

    @property
    def digest(self) -> str:
        """The SHA-256 of the bundle's ``metadata.json`` (what the online store checks)."""
        return str(self.record.get("digest", ""))

    def summary(self) -> dict[str, Any]:
        """A JSON-ready description (for the champion pointer, the card and ``/v1/metadata``)."""
        return {"artifact": self.artifact, "version": self.version, "commit": self.commit,
                "digest": self.digest, "stages": list(self.stages),
                "roc_auc": self.record.get("roc_auc")}  # fmt: skip


def artifact_name(text: str) -> str:
    """A GTO artifact name from a study or file name (lower case, ``[a-z0-9-]``)."""
    name = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return name or "model"


def _repo(root: Path | None) -> str:
    return str(root or paths.root())


def _git(root: Path | None, *args: str) -> str | None:
    """git's output, None when it fails or git is not installed (a container image)."""
    try:
        out = subprocess.run(["git", *args], cwd=_repo(root), capture_output=True, text=True,
                             timeout=60)  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def has_commits(root: Path | None = None) -> bool:
    """Whether the project is a git repository with at least one commit (GTO tags need one)."""
    return _git(root, "rev-parse", "--verify", "-q", "HEAD") is not None


@contextlib.contextmanager
def _quiet() -> Any:
    """GTO prints its own progress lines; the callers print what matters."""
    with contextlib.redirect_stdout(io.StringIO()):
        yield


def versions(artifact: str, root: Path | None = None) -> list[Version]:
    """Every registered (not deregistered) version of ``artifact``, oldest first; [] when there
    is none or the project has no commit."""
    if not has_commits(root):
        return []
    import gto.api
    from gto.exceptions import ArtifactNotFound

    try:
        shown = gto.api.show(_repo(root), artifact)
    except ArtifactNotFound:
        return []
    out = []
    for v in shown:
        if not v.get("registrations") or not v.get("is_active", True):
            continue
        try:
            record = json.loads(v["registrations"][-1]["message"])
        except (ValueError, TypeError):
            record = {}
        stages = tuple(s["stage"] for s in v.get("stages", []) if s.get("is_active"))
        out.append(Version(artifact, v["version"], v["commit_hexsha"], record, stages))
    return sorted(out, key=lambda v: _semver(v.version))


def _semver(version: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", version))


def in_stage(
    artifact: str, stage: str, root: Path | None = None, known: list[Version] | None = None
) -> Version | None:
    """The version GTO resolves for ``stage`` (the greatest one assigned there), or None."""
    held = holders(artifact, stage, root, known)
    return held[0] if held else None


def holders(
    artifact: str, stage: str, root: Path | None = None, known: list[Version] | None = None
) -> list[Version]:
    """Every version assigned ``stage`` and not unassigned since, greatest first (GTO keeps
    earlier champions in ``prod``; the greatest one answers). ``known``: :func:`versions`,
    when the caller has read them already."""
    by_name = {v.version: v for v in (versions(artifact, root) if known is None else known)}
    if not by_name:
        return []
    import gto.api

    found = gto.api.find_versions_in_stage(_repo(root), artifact, stage, versions_per_stage=-1)
    names = [found.version] if hasattr(found, "version") else [f.version for f in found or []]
    held = [by_name[n] for n in names if n in by_name]
    return sorted(held, key=lambda v: _semver(v.version), reverse=True)


def champion(artifact: str, root: Path | None = None) -> Version | None:
    """The production model (``prod``), or None before the first promotion."""
    return in_stage(artifact, PROD, root)


def challenger(artifact: str, root: Path | None = None) -> Version | None:
    """The model under trial (``staging``): shadow and canary rollouts serve it."""
    return in_stage(artifact, STAGING, root)


def find(artifact: str, version: str, root: Path | None = None) -> Version:
    """A registered version by name; :class:`RegistryError` listing the known ones."""
    known = versions(artifact, root)
    for v in known:
        if v.version == version:
            return v
    names = ", ".join(v.version for v in known) or "none"
    raise RegistryError(f"{artifact}: no registered version {version!r} (registered: {names})")


def next_version(
    artifact: str, root: Path | None = None, known: list[Version] | None = None
) -> str:
    """The name the next registration gets (GTO bumps the patch number)."""
    known = versions(artifact, root) if known is None else known
    if not known:
        return "v0.0.1"
    major, minor, patch = (*_semver(known[-1].version), 0, 0, 0)[:3]
    return f"v{major}.{minor}.{patch + 1}"


def store_dir(artifact: str, digest: str) -> Path:
    """Where a bundle of ``artifact`` with ``digest`` is materialised."""
    return paths.registry_store() / artifact / digest[:DIGEST_CHARS]


def _bundle_rel() -> str:
    return paths.rel(paths.bundle_dir())


def lock_md5(lock_text: str | None) -> str | None:
    """The md5 ``dvc.lock`` records for the bundle directory (None when it records none)."""
    return provenance.lock_text_hashes(lock_text, (_bundle_rel(),))[_bundle_rel()]


def bundle_commit(ref: str | None = None, root: Path | None = None) -> str:
    """The commit that records the workspace bundle: ``ref`` if given, else HEAD, else the
    newest DVC experiment (``dvc exp run``) whose ``dvc.lock`` has the same bundle hash."""
    lock = paths.root() / "dvc.lock" if root is None else Path(root) / "dvc.lock"
    want = lock_md5(lock.read_text(encoding="utf-8") if lock.is_file() else None)
    if want is None:
        raise RegistryError(f"{paths.rel(lock)}: records no {_bundle_rel()}; run dvc repro first")
    if ref is not None:
        candidates = [ref]
    else:
        exps = _git(root, "for-each-ref", "--sort=-committerdate", "--format=%(objectname)",
                    "refs/exps") or ""  # fmt: skip
        candidates = ["HEAD", *exps.split()]
    for candidate in candidates:
        commit = _git(root, "rev-parse", "--verify", "-q", f"{candidate}^{{commit}}")
        if commit and lock_md5(_git(root, "show", f"{commit}:dvc.lock")) == want:
            return commit
    if ref is None:
        committed = _git(root, "show", "HEAD:dvc.lock")
        raise UnrecordedBundle(want, provenance.lock_changes(committed, lock.read_text("utf-8")))
    raise RegistryError(
        f"{_bundle_rel()} (dvc.lock md5 {want[:12]}) is not recorded by {ref}'s dvc.lock: "
        "commit dvc.lock (git commit) or run the change as an experiment (dvc exp run), then "
        "register again"
    )


def fetch(artifact: str, digest: str, commit: str, root: Path | None = None) -> Path:
    """The bundle of ``commit`` restored from DVC into the store and verified (every file's
    SHA-256, then its digest against ``digest``); a verified copy already there is reused."""
    dest = store_dir(artifact, digest)
    if (dest / "metadata.json").is_file() and bundle_digest(dest) == digest:
        return dest
    from dvc.api import DVCFileSystem

    dest.parent.mkdir(parents=True, exist_ok=True)
    with artifacts.atomic_dir(dest) as tmp:
        try:
            fs = DVCFileSystem(_repo(root), rev=commit)
            fs.get(_bundle_rel(), str(tmp / "b"), recursive=True)
        except Exception as err:  # DVC raises many kinds: missing cache, bad rev, ...
            raise RegistryError(
                f"{artifact}: cannot restore {_bundle_rel()} of commit {commit[:12]} from DVC "
                f"({type(err).__name__}: {err}); `dvc pull` it from the remote that has it"
            ) from None
        for item in (tmp / "b").iterdir():
            shutil.move(str(item), tmp / item.name)
        (tmp / "b").rmdir()
        try:
            load_bundle(tmp)
        except BundleError as err:
            raise RegistryError(f"{artifact} {commit[:12]}: {err}") from None
        got = bundle_digest(tmp)
        if got != digest:
            raise RegistryError(
                f"{artifact}: commit {commit[:12]} holds bundle {got[:12]}, not {digest[:12]}"
            )
    return dest


def bundle_path(v: Version, root: Path | None = None) -> Path:
    """The verified local bundle of a registered version (restored from DVC when missing)."""
    return fetch(v.artifact, v.digest, v.commit, root)


def register(
    artifact: str, bundle_dir: Path, record: dict[str, Any], ref: str | None = None,
    root: Path | None = None,
) -> tuple[Version, bool]:  # fmt: skip
    """Register the bundle in ``bundle_dir`` as the next version of ``artifact`` (the bytes
    checked against DVC first, so a version always resolves to its bundle). Returns the version
    and whether it is new; a bundle registered before is returned as it is."""
    if not has_commits(root):
        raise RegistryError("the registry needs a git repository with a commit (GTO tags one)")
    digest = bundle_digest(bundle_dir)
    for v in versions(artifact, root):
        if v.digest == digest:
            return v, False
    commit = bundle_commit(ref, root)
    fetch(artifact, digest, commit, root)
    import gto.api

    message = json.dumps({**record, "digest": digest}, sort_keys=True, separators=(",", ":"))
    with _quiet():
        gto.api.register(_repo(root), artifact, ref=commit, message=message)
    return next(v for v in versions(artifact, root) if v.digest == digest), True


def assign(v: Version, stage: str, root: Path | None = None) -> None:
    """Assign ``stage`` to ``v`` (again, if it had it before and lost it)."""
    import gto.api

    message = f"{stage}: {v.version} (bundle {v.digest[:DIGEST_CHARS]})"
    with _quiet():
        gto.api.assign(_repo(root), v.artifact, stage, version=v.version, force=True,
                       message=message)  # fmt: skip


def unassign(v: Version, stage: str, root: Path | None = None) -> None:
    """Take ``stage`` away from ``v``."""
    import gto.api

    with _quiet():
        gto.api.unassign(_repo(root), v.artifact, stage=stage, version=v.version)


def rollback(artifact: str, root: Path | None = None) -> tuple[Version, Version]:
    """Unassign the champion from ``prod`` so the previous champion answers again; returns
    (the one rolled back, the champion now)."""
    held = holders(artifact, PROD, root)
    if not held:
        raise RegistryError(f"{artifact}: no champion to roll back")
    if len(held) == 1:
        raise RegistryError(
            f"{artifact}: {held[0].version} is the only champion left in {PROD}; nothing to roll "
            "back to"
        )
    unassign(held[0], PROD, root)
    now = champion(artifact, root)
    assert now is not None
    return held[0], now


NO_POINTER: dict[str, Any] = {"artifact": None, "champion": None, "next_version": None,
                              "versions": {}}  # fmt: skip
"""What :func:`read_pointer` gives where the champion stage has not run."""


def read_pointer(path: Path) -> dict[str, Any]:
    """The champion stage's output, or :data:`NO_POINTER` (judged as if there were no
    champion) where the notebook runs outside the pipeline and the stage has not run."""
    if not Path(path).is_file():
        print(f"{paths.rel(Path(path))} not found (the champion stage has not run): the gate "
              "judges this model as if no champion were registered")  # fmt: skip
        return dict(NO_POINTER)
    return artifacts.read_json(path)


def pointer(artifact: str, root: Path | None = None) -> dict[str, Any]:
    """What the champion stage writes: the champion (None before the first promotion) and the
    name the next registration gets. Evaluate depends on it, so a promotion or rollback makes
    the gate run again against the new champion."""
    known = versions(artifact, root)
    best = in_stage(artifact, PROD, root, known)
    return {
        "artifact": artifact,
        "champion": best.summary() if best else None,
        "next_version": next_version(artifact, root, known),
        "versions": {v.digest[:DIGEST_CHARS]: v.version for v in known},
    }


def promotion(
    pointer: dict[str, Any],
    bundle: Any,
    frame: pd.DataFrame,
    y: np.ndarray,
    p_new: np.ndarray,
    blessing: Any,
    gate: Callable[..., dict[str, Any]],
    root: Path | None = None,
) -> dict[str, Any]:
    """The champion gate for ``bundle`` against the champion of ``pointer`` (the champion
    stage's output), on the rows of ``frame``: the champion is restored from the registry and
    scored on the same rows; ``gate(p_old)`` decides (:func:`tabstudy.evaluation.champion_gate`
    with the stage's thresholds bound). A bundle that already is the champion is not scored
    again (decision ``champion``)."""
    from tabstudy.evaluation.gates import CHAMPION, REFUSE
    from tabstudy.models import keras_model

    digest = bundle_digest(bundle.path)
    best = pointer.get("champion")
    known = pointer.get("versions", {})
    head = {"challenger": {"digest": digest}, "champion": best,
            "version": known.get(digest[:DIGEST_CHARS], pointer.get("next_version"))}  # fmt: skip
    if best and best["digest"] == digest:
        return _summarised({**head, "decision": CHAMPION, "reasons": [], "overall": None,
                            "slices": [], "version": best["version"]})  # fmt: skip
    if best is None:
        return _summarised({**head, **gate(None)})
    v = Version(pointer["artifact"], best["version"], best["commit"], {"digest": best["digest"]})
    old = load_bundle(bundle_path(v, root))
    missing = sorted({f.name for f in old.spec.features} - set(frame.columns))
    if missing:
        reason = (f"the champion {v.version} needs column(s) {', '.join(missing)} that these "
                  "rows lack, so the two cannot be compared on the same rows")  # fmt: skip
        return _summarised({**head, **gate(None), "decision": REFUSE, "reasons": [reason]})
    p_old = keras_model.predict(old.keras_model(), frame)
    return _summarised({**head, **gate(p_old)})


def _summarised(promo: dict[str, Any]) -> dict[str, Any]:
    return {**promo, "summary": decision_line(promo)}


def decision_line(promo: dict[str, Any]) -> str:
    """One console line for the gate's decision (the runner prints it after evaluate)."""
    champ = promo.get("champion") or {}
    against = f"against champion {champ['version']}" if champ else "no champion yet"
    line = f"champion gate: {str(promo['decision']).upper()} ({against}"
    overall = promo.get("overall")
    if overall:
        line += (f"; ROC AUC {overall['diff']:+.4f} [{overall['lo']:+.4f}, "
                 f"{overall['hi']:+.4f}]")  # fmt: skip
    line += ")"
    if promo.get("reasons"):
        line += ": " + "; ".join(promo["reasons"])
    for warning in promo.get("warnings") or []:
        if warning not in line:
            line += f" [WARNING: {warning}]"
    return line
