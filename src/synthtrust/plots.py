"""Figures people look at rather than read: written as PNG for DVC plots and MLflow artifacts."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from synthtrust.data.brats import MODALITIES, REGION_NAMES  # noqa: E402
from synthtrust.data.validation import read_case_dir  # noqa: E402

LABEL_COLOURS = {1: "tab:red", 2: "tab:green", 4: "yellow"}
FIGURE_PAIRS = 3  # real/synthetic pairs in the figure (and in the trust report's 3D viewer)


def _axial(volume: np.ndarray, z: int) -> np.ndarray:
    return np.rot90(volume[:, :, z])


def real_vs_synthetic(pairs: Sequence[tuple[Path, Path]], out: str | Path, max_cases: int = FIGURE_PAIRS) -> Path:
    """Axial slices through each tumour's centre: real above synthetic, one column per modality plus
    the label map, with the label contours drawn on every image."""
    pairs = list(pairs)[:max_cases]
    fig, axes = plt.subplots(2 * len(pairs), len(MODALITIES) + 1, squeeze=False,
                             figsize=(2.2 * (len(MODALITIES) + 1), 2.3 * 2 * len(pairs)))
    for row, (real_dir, synth_dir) in enumerate(pairs):
        for offset, (kind, case_dir) in enumerate((("real", real_dir), ("synthetic", synth_dir))):
            image, label = read_case_dir(case_dir)
            z = int(np.argwhere(label > 0)[:, 2].mean()) if label.any() else label.shape[2] // 2
            r = 2 * row + offset
            for c, modality in enumerate(MODALITIES):
                ax = axes[r, c]
                ax.imshow(_axial(image[c], z), cmap="gray", vmin=-3, vmax=4)
                for value, colour in LABEL_COLOURS.items():
                    mask = _axial(label == value, z)
                    if mask.any():
                        ax.contour(mask, levels=[0.5], colors=colour, linewidths=0.6)
                ax.set_title(f"{kind} {modality}", fontsize=8)
            axes[r, -1].imshow(_axial(label, z), cmap="viridis", vmin=0, vmax=4, interpolation="nearest")
            axes[r, -1].set_title(Path(case_dir).name, fontsize=7)
    for ax in axes.flat:
        ax.axis("off")
    fig.tight_layout()
    return save_figure(fig, out)


def save_figure(fig: plt.Figure, out: str | Path, dpi: int = 90) -> Path:
    """Write ``fig`` as PNG atomically (temporary file, then rename) and close it."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    try:
        fig.savefig(tmp, dpi=dpi, format="png")
        tmp.replace(out)
    finally:
        plt.close(fig)
        tmp.unlink(missing_ok=True)
    return out


REGION_COLOURS = dict(zip(REGION_NAMES, ("tab:red", "tab:green", "tab:orange"), strict=True))


def dice_vs_alpha(rows: Sequence[dict[str, float]], out: str | Path, confidence: float = 0.95) -> Path:
    """Mean Dice per region against alpha, one panel per region: real test solid with its interval shaded,
    synthetic test dashed with its interval as error bars; the title says how many cases stand behind them."""
    rows = sorted(rows, key=lambda r: r["alpha"])
    alphas = np.array([r["alpha"] for r in rows])
    fig, axes = plt.subplots(1, len(REGION_COLOURS), figsize=(10, 3.6), sharey=True)
    for ax, (region, colour) in zip(axes, REGION_COLOURS.items(), strict=True):
        def column(name: str) -> np.ndarray:
            return np.array([np.nan if r[name] is None else r[name] for r in rows], dtype=float)

        real, synth = column(f"real_{region}"), column(f"synthetic_{region}")
        ax.plot(alphas, real, "-o", color=colour, label="real test")
        ax.fill_between(alphas, column(f"real_{region}_low"), column(f"real_{region}_high"), color=colour,
                        alpha=0.2, linewidth=0)
        errors = np.abs(np.vstack([synth - column(f"synthetic_{region}_low"),
                                   column(f"synthetic_{region}_high") - synth]))
        ax.errorbar(alphas + 0.01, synth, yerr=errors, fmt="--s", color=colour, alpha=0.7, capsize=3,
                    label="synthetic test")
        ax.vlines(alphas - 0.015, column(f"real_{region}_seed_min"), column(f"real_{region}_seed_max"),
                  color="black", linewidth=2, label="real test, seed range")
        ax.set(xlabel="alpha (synthetic fraction)", title=region, ylim=(0, 1))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    axes[0].set_ylabel("Dice")
    cases, seeds = rows[0].get("real_cases", "?"), rows[0].get("seeds", 1)
    fig.suptitle(f"Regional Dice vs alpha: means over {cases} real test cases and {seeds} seeds, {confidence:.0%} "
                 "bootstrap intervals over cases (band, bars), range over seeds (black)", fontsize=9)
    fig.tight_layout()
    return save_figure(fig, out)


def objective_vs_alpha(rows: Sequence[dict], out: str | Path, best: int | None = None,
                       pareto: Sequence[int] = ()) -> Path:
    """Each finished trial's validation Dice against its alpha: grid models, search trials, pruned trials
    (their last reported value) and the best trial; per region when the study has three objectives."""
    multi = bool(pareto)
    panels = [(f"dice_{r}", r) for r in REGION_NAMES] if multi else [("mean_dice", "mean")]
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.6), squeeze=False)
    styles = {"grid": ("s", "tab:blue", "alpha grid"), "search": ("o", "tab:green", "search trial"),
              "same_mix": ("o", "tab:olive", "same mix as an earlier trial")}
    for ax, (column, title) in zip(axes[0], panels, strict=True):
        for source, (marker, colour, label) in styles.items():
            points = [r for r in rows if r["source"] == source and r["state"] == "complete"
                      and r[column] is not None]
            if points:
                ax.scatter([r["alpha"] for r in points], [r[column] for r in points], marker=marker,
                           color=colour, label=label, zorder=3)
        pruned = [r for r in rows if r["state"] == "pruned" and r[column] is not None]
        if pruned:
            ax.scatter([r["alpha"] for r in pruned], [r[column] for r in pruned], marker="x", color="tab:red",
                       label="pruned (last value)", zorder=3)
        highlight = [r for r in rows if r["trial"] in (set(pareto) or {best}) and r[column] is not None]
        if highlight:
            ax.scatter([r["alpha"] for r in highlight], [r[column] for r in highlight], marker="*", s=220,
                       facecolors="none", edgecolors="black", label="Pareto front" if multi else "best", zorder=4)
        ax.set(xlabel="alpha", ylabel=f"validation Dice ({title})", xlim=(-0.05, 1.05), ylim=(0, 1))
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7, loc="lower left")
    fig.suptitle("Optuna search: objective vs alpha (real validation split)", fontsize=10)
    fig.tight_layout()
    return save_figure(fig, out)
