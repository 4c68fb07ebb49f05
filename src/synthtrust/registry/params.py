"""The ``registry:`` section of params.yaml."""

from __future__ import annotations

from dataclasses import dataclass

from synthtrust.errors import ParamsError

CHALLENGER, CHAMPION = "challenger", "champion"


@dataclass(frozen=True)
class RegistryParams:
    """The registered model and the promotion gate."""

    model_name: str = "brats-swinunetr"
    margin: float = 0.02                              # no region's real-test Dice may drop by more than this
    scorecard: str = "reports/trust/scorecard.json"   # the trust scorecard the gate reads once it exists

    def __post_init__(self) -> None:
        if not self.model_name:
            raise ParamsError("registry.model_name: must not be empty")
        if not 0.0 <= self.margin <= 1.0:
            raise ParamsError(f"registry.margin: a Dice difference in [0, 1], got {self.margin}")
