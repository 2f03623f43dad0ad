"""The canary/shadow comparison of two models on the same served rows, from the request
log's rollout lines."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

# --- canary / shadow rollout: the champion and the challenger on the same served rows ---------
from tabstudy.monitoring.drift import numeric_psi


def rollout_rows(records: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per scored row of the request-log lines served in a rollout (shadow or canary):
    request id, time, mode, request key, who answered, both probabilities, both decisions and
    both registry versions. Lines outside a rollout are skipped."""
    parts = []
    for r in records:
        if not r.get("rollout"):
            continue
        v = r["variants"]
        champ, chal = v["champion"], v["challenger"]
        p_a, p_b = np.asarray(r["champion_probability"]), np.asarray(r["challenger_probability"])
        parts.append(pd.DataFrame({
            "request_id": r["request_id"], "time": r["time"], "mode": r["rollout"],
            "key": r["keys"], "served": r["served"],
            "p_champion": p_a, "p_challenger": p_b,
            "d_champion": p_a >= champ["threshold"], "d_challenger": p_b >= chal["threshold"],
            "champion": champ.get("registry_version") or champ["model_version"],
            "challenger": chal.get("registry_version") or chal["model_version"],
        }))  # fmt: skip
    columns = ["request_id", "time", "mode", "key", "served", "p_champion", "p_challenger",
               "d_champion", "d_challenger", "champion", "challenger"]  # fmt: skip
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=columns)


def latest_pair(rows: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """The rows of the champion/challenger pair served last (a promotion or reload changes the
    pair; comparing across pairs would mix models), and how many rows of other pairs were left
    out."""
    if rows.empty:
        return rows, 0
    last = rows.iloc[-1]
    same = (rows["champion"] == last["champion"]) & (rows["challenger"] == last["challenger"])
    return rows[same].reset_index(drop=True), int((~same).sum())


def rollout_comparison(rows: pd.DataFrame) -> dict[str, Any]:
    """Champion against challenger on the rows served in a rollout: the share each answered,
    how often their decisions agree, how far their scores move (mean absolute difference, the
    Kolmogorov-Smirnov statistic and the PSI of the challenger's scores against the
    champion's). Their ROC AUC once outcomes exist: :func:`tabstudy.evaluation.variant_auc`."""
    from scipy.stats import ks_2samp

    if rows.empty:
        raise ValueError("no request in the log was served in a rollout (shadow or canary)")
    a, b = rows["p_champion"].to_numpy(float), rows["p_challenger"].to_numpy(float)
    ks = ks_2samp(a, b, method="asymp")
    out: dict[str, Any] = {
        "rows": len(rows),
        "requests": int(rows["request_id"].nunique()),
        "modes": sorted(rows["mode"].unique().tolist()),
        "versions": {
            "champion": sorted(rows["champion"].unique().tolist()),
            "challenger": sorted(rows["challenger"].unique().tolist()),
        },
        "served_share": {
            k: float(v) for k, v in rows["served"].value_counts(normalize=True).sort_index().items()
        },
        "agreement": float((rows["d_champion"] == rows["d_challenger"]).mean()),
        "mean_abs_difference": float(np.mean(np.abs(a - b))),
        "ks_statistic": float(ks.statistic),
        "ks_pvalue": float(ks.pvalue),
        "psi": numeric_psi(pd.Series(a), pd.Series(b), 10),
        "mean_probability": {"champion": float(a.mean()), "challenger": float(b.mean())},
    }
    return out


def rollout_findings(result: Mapping[str, Any]) -> list[str]:
    """Sentences computed from :func:`rollout_comparison` (with
    :func:`tabstudy.evaluation.variant_auc`'s keys when outcomes were given)."""
    share = result["served_share"]
    champ = ", ".join(result["versions"]["champion"])
    chal = ", ".join(result["versions"]["challenger"])
    out = [
        f"{result['rows']:,} rows in {result['requests']:,} request(s) "
        f"({', '.join(result['modes'])}): the challenger {chal} answered "
        f"{100 * share.get('challenger', 0.0):.1f}% of them, "
        f"the champion {champ} {100 * share.get('champion', 0.0):.1f}%.",
        f"Their decisions agree on {100 * result['agreement']:.1f}% of rows; the scores differ by "
        f"{result['mean_abs_difference']:.4f} on average (mean probability "
        f"{result['mean_probability']['champion']:.4f} against "
        f"{result['mean_probability']['challenger']:.4f}; KS statistic "
        f"{result['ks_statistic']:.3f}, PSI {result['psi']:.3f}).",
    ]
    aucs = result.get("auc_all_rows")
    if not aucs:
        out.append("No labels were given: ROC AUC per variant waits for the outcomes.")
        return out
    parts = []
    for v in ("champion", "challenger"):
        a = aucs[v]
        if a["roc_auc"] is not None:
            parts.append(f"{v} {a['roc_auc']:.4f} [{a['lo']:.4f}, {a['hi']:.4f}]")
    out.append(f"On the {result['labelled_rows']:,} labelled rows, ROC AUC: "
               + ("; ".join(parts) or "n/a (one class only)") + ".")  # fmt: skip
    return out
