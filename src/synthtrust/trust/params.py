"""The ``trust:`` section of params.yaml: one threshold per factor."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from synthtrust.errors import ParamsError


@dataclass(frozen=True)
class TrustParams:
    """Pass/fail thresholds of the trust factors T1 to T5."""

    fidelity_ssim_min: float = 0.5        # T1: mean paired SSIM (inside the brain) of synthetic copies
    parity_margin: float = 0.05           # T2: non-inferiority margin of real-test mean Dice vs alpha = 0
    small_et_dice_min: float = 0.2        # T3: ET Dice of the smallest-ET stratum, reported on its own
    diversity_ratio_max: float = 1.25     # T4: synthetic-pairs MS-SSIM / real-pairs MS-SSIM (mode collapse above)
    privacy_percentile: float = 5.0       # T5: a copy is closer to a real case than this percentile of real NNs
    privacy_flag_max: float = 0.1         # T5: fraction of synthetic cases flagged as likely copies

    def __post_init__(self) -> None:
        for name in ("fidelity_ssim_min", "parity_margin", "small_et_dice_min", "privacy_flag_max"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ParamsError(f"trust.{name}: a fraction in [0, 1], got {getattr(self, name)}")
        if not 0.0 < self.privacy_percentile < 100.0:
            raise ParamsError(f"trust.privacy_percentile: in (0, 100), got {self.privacy_percentile}")
        if self.diversity_ratio_max < 1.0:
            raise ParamsError(f"trust.diversity_ratio_max: >= 1, got {self.diversity_ratio_max}")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
