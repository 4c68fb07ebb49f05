"""The trust report's figures: region-size-stratified Dice with intervals, membership and nearest-neighbour
distances (privacy), diversity."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from synthtrust.data.brats import REGION_NAMES
from synthtrust.plots import REGION_COLOURS, save_figure
from synthtrust.stats import describe
from synthtrust.trust.factors import STRATA


def stratified_dice(scorecard: dict[str, Any], out: str | Path) -> Path:
    """Real-test lesion Dice per lesion-size stratum, with intervals: one panel per region, one bar per alpha
    model and the challenger (hatched)."""
    models = [(f"alpha {a}", f["T3_regional_robustness"]) for a, f in scorecard["per_alpha"].items()]
    models.append((f"challenger v{scorecard['model']['version']}", scorecard["factors"]["T3_regional_robustness"]))
    fig, axes = plt.subplots(1, len(REGION_NAMES), figsize=(4.0 * len(REGION_NAMES), 3.4), sharey=True)
    width = 0.8 / len(models)
    for ax, region in zip(axes, REGION_NAMES, strict=True):
        for i, (name, t3) in enumerate(models):
            table = t3["strata"][region]
            values = np.array([table[s]["dice"] if table[s]["dice"] is not None else 0.0 for s in STRATA])
            bounds = [table[s].get("interval") or [None, None] for s in STRATA]
            errors = np.array([[0.0 if lo is None else v - lo for v, (lo, _) in zip(values, bounds, strict=True)],
                               [0.0 if hi is None else hi - v for v, (_, hi) in zip(values, bounds, strict=True)]])
            ax.bar(np.arange(len(STRATA)) + (i - (len(models) - 1) / 2) * width, values, width, label=name,
                   yerr=np.clip(errors, 0, None), capsize=2, hatch="//" if name.startswith("challenger") else None,
                   alpha=0.85)
        if table["edges_ml"] is not None:
            low, high = table["edges_ml"]
            ax.set_xticks(range(len(STRATA)), [f"small\n<= {low:g} ml", f"medium\n<= {high:g} ml", "large"],
                          fontsize=7)
        ax.set_title(region, color=REGION_COLOURS[region])
        ax.set(ylim=(0, 1))
        ax.grid(axis="y", alpha=0.3)
    axes[0].set_ylabel("real-test lesion Dice")
    axes[-1].legend(fontsize=7)
    fig.suptitle("Regional robustness (T3): Dice of each reference lesion by lesion size (missed: 0)", fontsize=10)
    fig.tight_layout()
    return save_figure(fig, out)


def privacy_distances(t5: dict[str, Any], out: str | Path) -> Path:
    """Left: each copy's distance to its own source, copies of training cases against copies of held-out
    cases (membership, the verdict). Right: each copy's distance to its nearest *other* real case over the
    real-to-real nearest-neighbour distances (copies of another patient, the second figure)."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6))
    cases = t5.get("cases", {})
    for member, colour, label in ((True, "tab:red", "copies of training cases"),
                                  (False, "tab:blue", "copies of held-out cases")):
        values = [c["to_source"] for c in cases.values() if c["member"] is member]
        left.scatter(values, np.full(len(values), 1.0 if member else 0.0) + np.linspace(-0.15, 0.15, len(values)),
                     color=colour, label=f"{label} ({len(values)})", alpha=0.8)
    left.set(yticks=[0, 1], yticklabels=["held out", "training"], ylim=(-0.5, 1.5),
             xlabel="distance to its own source (1 - correlation inside the brain)")
    interval = t5.get("interval")
    title = "Membership (T5): not applicable" if interval is None else (
        f"Membership (T5): AUC {describe(interval)}")
    left.set_title(title, fontsize=9)
    left.legend(fontsize=7)
    others = [c["distance"] for c in cases.values()]
    real_nn = t5.get("real_nn_distances", [])
    bins = np.linspace(0, max([*others, *real_nn, 1e-3]) * 1.05, 25)
    right.hist(real_nn, bins=bins, alpha=0.6, label="real case to its nearest other real case")
    right.hist(others, bins=bins, alpha=0.6, label="synthetic copy to its nearest real case other than its source")
    if "cutoff" in t5:
        right.axvline(t5["cutoff"], color="black", linestyle="--", label=f"copy cutoff {t5['cutoff']:.3f}")
    right.set(xlabel="distance (1 - correlation inside the brain)", ylabel="cases")
    right.set_title(f"Copies of another patient: {t5.get('flagged', 0)} of {len(others)} flagged", fontsize=9)
    right.legend(fontsize=7)
    fig.tight_layout()
    return save_figure(fig, out)


def diversity_bars(t4: dict[str, Any], out: str | Path) -> Path:
    """Mean pairwise MS-SSIM among real and among synthetic cases, and coverage of the real cases."""
    fig, ax = plt.subplots(figsize=(4.5, 3.4))
    ax.bar(["real pairs", "synthetic pairs"], [t4["ms_ssim_real"], t4["ms_ssim_synthetic"]],
           color=["tab:blue", "tab:orange"])
    ax.set(ylim=(0, 1), ylabel="mean MS-SSIM (higher: more alike)",
           title=f"Diversity (T4): ratio {t4['score']:.2f}, coverage {t4['coverage']:.0%}")
    ax.title.set_fontsize(9)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return save_figure(fig, out)
