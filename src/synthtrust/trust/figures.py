"""The trust report's figures: region-size-stratified Dice, privacy nearest-neighbour distances, diversity."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from synthtrust.data.brats import REGION_NAMES
from synthtrust.plots import REGION_COLOURS, save_figure
from synthtrust.trust.factors import STRATA


def stratified_dice(scorecard: dict[str, Any], out: str | Path) -> Path:
    """Real-test Dice per region-volume stratum: one panel per region, one bar per alpha model and the
    challenger (hatched)."""
    models = [(f"alpha {a}", f["T3_regional_robustness"]) for a, f in scorecard["per_alpha"].items()]
    models.append((f"challenger v{scorecard['model']['version']}", scorecard["factors"]["T3_regional_robustness"]))
    fig, axes = plt.subplots(1, len(REGION_NAMES), figsize=(4.0 * len(REGION_NAMES), 3.4), sharey=True)
    width = 0.8 / len(models)
    for ax, region in zip(axes, REGION_NAMES, strict=True):
        for i, (name, t3) in enumerate(models):
            table = t3["strata"][region]
            values = [table[s]["dice"] if table[s]["dice"] is not None else 0.0 for s in STRATA]
            ax.bar(np.arange(len(STRATA)) + (i - (len(models) - 1) / 2) * width, values, width, label=name,
                   hatch="//" if name.startswith("challenger") else None, alpha=0.85)
        low, high = table["edges_ml"]
        ax.set_xticks(range(len(STRATA)), [f"small\n<= {low:g} ml", f"medium\n<= {high:g} ml", "large"],
                      fontsize=7)
        ax.set_title(region, color=REGION_COLOURS[region])
        ax.set(ylim=(0, 1))
        ax.grid(axis="y", alpha=0.3)
    axes[0].set_ylabel("real-test Dice")
    axes[-1].legend(fontsize=7)
    fig.suptitle("Regional robustness (T3): Dice by region size", fontsize=10)
    fig.tight_layout()
    return save_figure(fig, out)


def privacy_distances(t5: dict[str, Any], out: str | Path) -> Path:
    """Histogram of synthetic-to-nearest-real distances over the real-to-real nearest-neighbour ones."""
    synthetic = [c["distance"] for c in t5["cases"].values()]
    fig, ax = plt.subplots(figsize=(6, 3.4))
    bins = np.linspace(0, max([*synthetic, *t5["real_nn_distances"], 1e-3]) * 1.05, 25)
    ax.hist(t5["real_nn_distances"], bins=bins, alpha=0.6, label="real case to its nearest other real case")
    ax.hist(synthetic, bins=bins, alpha=0.6, label="synthetic case to its nearest real training case")
    ax.axvline(t5["cutoff"], color="black", linestyle="--", label=f"copy cutoff {t5['cutoff']:.3f}")
    ax.set(xlabel="distance (1 - correlation inside the brain)", ylabel="cases",
           title=f"Privacy (T5): {t5['flagged']} of {len(synthetic)} synthetic cases flagged as likely copies")
    ax.legend(fontsize=7)
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
