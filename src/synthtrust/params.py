"""params.yaml as one typed model: a pydantic model per section, unknown keys refused, no defaults.

Every value lives in params.yaml (or a profile); nothing here shadows it. The ``generator`` and
``segmenter`` sections set the bundle config ids of the same names (``bundles/<bundle>/configs``): the
bundles hold their own standalone defaults, params.yaml says what the pipeline runs with. Keys that are
the job's rather than the bundle's are listed in ``JOB_KEYS`` of their model.

``load(path)`` reads and validates the whole file; a bad file or value raises ``ParamsError`` with one
line that names the file and the dotted key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from synthtrust import capacity
from synthtrust.errors import ParamsError

DEFAULT_PARAMS = Path("params.yaml")
S = TypeVar("S", bound="Section")

class Section(BaseModel):
    """A params section: strict types (lists stay lists, no "3" for 3), unknown keys refused, immutable, and
    no ``.inf`` or ``.nan`` anywhere (YAML reads both as floats)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, allow_inf_nan=False)

    #: keys the synthtrust job reads itself; every other key is a bundle config id
    JOB_KEYS: ClassVar[frozenset[str]] = frozenset()

    def bundle_overrides(self) -> dict[str, Any]:
        """The bundle config ids this section sets, with their values."""
        return self.model_dump(exclude=set(self.JOB_KEYS))


# ----------------------------------------------------------------------------------------------- data
class PhantomParams(Section):
    """The embedded default dataset (stage make_phantoms)."""

    n: int = Field(ge=1)
    size: int = Field(ge=32, le=256)
    seed: int = Field(ge=0)


class SplitParams(Section):
    """Fractions of cases held out for validation and test, and the seed of the permutation."""

    val: float = Field(gt=0, lt=1)
    test: float = Field(gt=0, lt=1)
    seed: int = Field(ge=0)

    @model_validator(mode="after")
    def _leaves_training(self) -> SplitParams:
        if self.val + self.test >= 1.0:
            raise ValueError(f"val + test must leave training cases, got {self.val + self.test}")
        return self


class DataParams(Section):
    """The ``data:`` section: the source, the prepared grid and the split."""

    source: Literal["phantom", "brats"]
    brats_dir: str
    phantom: PhantomParams
    spatial_size: list[int] = Field(min_length=3, max_length=3)
    spacing: list[float] | None = Field(min_length=3, max_length=3)
    split: SplitParams

    @model_validator(mode="after")
    def _grid(self) -> DataParams:
        if any(s < 32 or s % 32 for s in self.spatial_size):
            raise ValueError(f"spatial_size: each size a multiple of 32 (SwinUNETR downsamples 32x), got "
                             f"{self.spatial_size}")
        if self.spacing is not None and any(s <= 0 for s in self.spacing):
            raise ValueError(f"spacing: three positive sizes in mm or null, got {self.spacing}")
        return self

    def raw_dir(self) -> Path:
        """Where the selected source's cases are read from."""
        return Path("data/raw/phantom") if self.source == "phantom" else Path(self.brats_dir)


# ------------------------------------------------------------------------------------------ generator
class GeneratorTrainParams(Section):
    """Ids of the generator bundle's common.yaml and train.yaml."""

    #: the ids of common.yaml (network, diffusion process, seed): sampling needs them too
    NETWORK_KEYS: ClassVar[tuple[str, ...]] = ("channels", "attention_levels", "num_res_blocks", "num_head_channels",
                                               "use_flash_attention", "num_train_timesteps", "prediction_type", "seed")

    channels: list[int] = Field(min_length=2)
    attention_levels: list[bool]
    num_res_blocks: int = Field(ge=1)
    num_head_channels: int = Field(ge=1)
    use_flash_attention: bool
    num_train_timesteps: int = Field(ge=1)
    prediction_type: Literal["epsilon", "sample", "v_prediction"]
    patch_size: list[int] = Field(min_length=3, max_length=3)
    batch_size: int = Field(ge=1)
    learning_rate: float = Field(gt=0)
    max_steps: int = Field(ge=1)
    steps_per_epoch: int = Field(ge=1)
    ema_momentum: float = Field(gt=0, le=1)
    seed: int = Field(ge=0)

    @model_validator(mode="after")
    def _levels(self) -> GeneratorTrainParams:
        if len(self.attention_levels) != len(self.channels):
            raise ValueError("attention_levels: need one entry per level of channels")
        factor = 2 ** (len(self.channels) - 1)
        if any(s % factor for s in self.patch_size):
            raise ValueError(f"patch_size: three sizes divisible by {factor} ({len(self.channels)} levels), "
                             f"got {self.patch_size}")
        problem = self.attention_problem(self.patch_size, self.batch_size, "patch_size")
        if problem is not None:
            raise ValueError(f"attention_levels: {problem}")
        problem = capacity.activation_problem(self.channels, self.num_res_blocks, self.patch_size, self.batch_size)
        if problem is not None:
            raise ValueError(f"batch_size: {problem}")
        return self

    def attention_problem(self, size: list[int], batch: int, where: str) -> str | None:
        """Why the network's attention cannot run at ``size`` (set by the key ``where``), or None."""
        return capacity.attention_problem(self.channels, self.attention_levels, self.num_head_channels,
                                          self.use_flash_attention, size, batch, where)


class GeneratorSampleParams(Section):
    """Ids of the generator bundle's inference.yaml, and how many novel cases the job makes."""

    JOB_KEYS: ClassVar[frozenset[str]] = frozenset({"novel_cases"})

    sampler: Literal["ddim", "ddpm"]
    num_inference_steps: int = Field(ge=1)
    sample_seed: int = Field(ge=0)
    novel_cases: int = Field(ge=0)


class GeneratorParams(Section):
    """The ``generator:`` section."""

    train: GeneratorTrainParams
    sample: GeneratorSampleParams

    @model_validator(mode="after")
    def _steps(self) -> GeneratorParams:
        if self.sample.num_inference_steps > self.train.num_train_timesteps:
            raise ValueError(f"sample.num_inference_steps: at most train.num_train_timesteps "
                             f"({self.train.num_train_timesteps}), got {self.sample.num_inference_steps}")
        return self

    def train_overrides(self) -> dict[str, Any]:
        """Bundle ids for training (common.yaml and train.yaml)."""
        return self.train.bundle_overrides()

    def sample_overrides(self) -> dict[str, Any]:
        """Bundle ids for sampling (common.yaml and inference.yaml): the network and diffusion process
        training used, and the sampler's."""
        return {**{k: getattr(self.train, k) for k in self.train.NETWORK_KEYS}, **self.sample.bundle_overrides()}


# ------------------------------------------------------------------------------------------------ mix
class MixParams(Section):
    """The ``mix:`` section: real:synthetic training mixes."""

    mode: Literal["replace", "augment"]
    alphas: list[float] = Field(min_length=1)
    seed: int = Field(ge=0)

    @model_validator(mode="after")
    def _alphas(self) -> MixParams:
        for alpha in self.alphas:
            check_alpha(alpha, self.mode)
        return self


def check_alpha(alpha: Any, mode: str) -> float:
    """``alpha`` as a float in [0, 1] ([0, 1) for augment), else ValueError (ParamsError from the CLI)."""
    if isinstance(alpha, bool) or not isinstance(alpha, int | float) or not 0.0 <= float(alpha) <= 1.0:
        raise ValueError(f"alpha must be a number in [0, 1], got {alpha!r}")
    if mode == "augment" and float(alpha) >= 1.0:
        raise ValueError("alpha = 1 is impossible in augment mode (all real cases stay)")
    return float(alpha)


# ------------------------------------------------------------------------------------------ segmenter
class SegmenterParams(Section):
    """Ids of the segmenter bundle's inference.yaml and train.yaml (SwinUNETR, recipe, sliding window), and
    ``seeds``: every alpha is trained once per seed (replicates); the first seed's model is the alpha's model
    of record (the search, the registry and the trust features use it), and sets the bundle id ``seed``."""

    JOB_KEYS: ClassVar[frozenset[str]] = frozenset({"seeds"})

    feature_size: int = Field(ge=12, multiple_of=12)
    depths: list[int] = Field(min_length=4, max_length=4)
    num_heads: list[int] = Field(min_length=4, max_length=4)
    window_size: int = Field(ge=2)
    patch_size: list[int] = Field(min_length=3, max_length=3)
    roi_size: list[int] = Field(min_length=3, max_length=3)
    batch_size: int = Field(ge=1)
    num_samples: int = Field(ge=1)
    pos: int = Field(ge=0)
    neg: int = Field(ge=0)
    learning_rate: float = Field(gt=0)
    lr_schedule: Literal["constant", "cosine"]
    max_steps: int = Field(ge=1)
    steps_per_epoch: int = Field(ge=1)
    val_interval: int = Field(ge=1)
    seeds: list[int] = Field(min_length=1)

    @model_validator(mode="after")
    def _shapes(self) -> SegmenterParams:
        if min(self.seeds) < 0 or len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"seeds: distinct integers >= 0, got {self.seeds}")
        if min(self.depths) < 1:
            raise ValueError(f"depths: four stages of >= 1 block, got {self.depths}")
        for stage, heads in enumerate(self.num_heads):  # stage i embeds feature_size * 2^i channels
            if heads < 1 or (self.feature_size << stage) % heads:
                raise ValueError(f"num_heads: stage {stage} has {self.feature_size << stage} channels "
                                 f"(feature_size * 2^{stage}), not divisible by {heads} heads")
        for name in ("patch_size", "roi_size"):
            size = getattr(self, name)
            if any(s < 32 or s % 32 for s in size) or max(size) < 64:
                raise ValueError(f"{name}: three multiples of 32, at least one >= 64 (SwinUNETR downsamples 32x "
                                 f"and its bottleneck needs more than one voxel), got {size}")
        if self.pos + self.neg == 0:
            raise ValueError("pos/neg: not both zero")
        return self

    NETWORK_KEYS: ClassVar[tuple[str, ...]] = ("feature_size", "depths", "num_heads", "window_size", "roi_size")

    def bundle_overrides(self) -> dict[str, Any]:
        """The bundle config ids this section sets; ``seed`` is the first of ``seeds``."""
        return {**super().bundle_overrides(), "seed": self.seeds[0]}

    def network_overrides(self) -> dict[str, Any]:
        """The ids inference needs: the network's shape and the sliding window."""
        return {k: getattr(self, k) for k in self.NETWORK_KEYS}


# ------------------------------------------------------------------------------------------- search
class SearchParams(Section):
    """The ``search:`` section: an Optuna study over alpha (and ``mix.mode`` with two ``modes``)."""

    n_trials: int = Field(ge=1)
    objective: Literal["mean", "multi"]
    sampler: Literal["tpe", "gp"]
    n_startup_trials: int = Field(ge=0)
    pruner: Literal["median", "none"]
    pruner_warmup_epochs: int = Field(ge=0)
    modes: list[Literal["replace", "augment"]] = Field(min_length=1, max_length=2)
    storage: str | None
    study_name: str = Field(min_length=1)
    heartbeat_interval: int = Field(ge=1)
    grace_period: int = Field(ge=1)
    seed: int = Field(ge=0)

    @model_validator(mode="after")
    def _checks(self) -> SearchParams:
        if len(set(self.modes)) != len(self.modes):
            raise ValueError(f"modes: distinct entries, got {self.modes}")
        if self.grace_period <= self.heartbeat_interval:
            raise ValueError("grace_period must exceed heartbeat_interval (both seconds)")
        return self

    def storage_url(self, default: str) -> str:
        """Where the study lives: ``$OPTUNA_STORAGE``, else ``storage``, else ``default``."""
        import os

        return os.environ.get("OPTUNA_STORAGE") or self.storage or default


# ----------------------------------------------------------------------------------------- registry
class RegistryParams(Section):
    """The ``registry:`` section: the registered model and the promotion gate."""

    model_name: str = Field(min_length=1)
    margin: float = Field(ge=0, le=1)
    scorecard: str
    #: what the gate does with a trust factor that had nothing to judge (T2 for a real-only model)
    not_applicable: Literal["pass", "refuse"]


# ---------------------------------------------------------------------------------------- intervals
class IntervalParams(Section):
    """The ``intervals:`` section: the bootstrap behind every interval (:mod:`synthtrust.stats`)."""

    confidence: float = Field(gt=0.5, lt=1)
    resamples: int = Field(ge=100, le=1_000_000)
    seed: int = Field(ge=0)


# -------------------------------------------------------------------------------------------- trust
class TrustParams(Section):
    """The ``trust:`` section: one threshold per factor."""

    fidelity_ssim_min: float = Field(ge=0, le=1)
    parity_margin: float = Field(ge=0, le=1)
    small_et_dice_min: float = Field(ge=0, le=1)
    diversity_ratio_max: float = Field(ge=1)
    privacy_auc_margin: float = Field(ge=0, lt=0.5)
    privacy_percentile: float = Field(gt=0, lt=100)
    reader_accuracy_margin: float = Field(ge=0, lt=0.5)


# ------------------------------------------------------------------------------------------ readers
class ReaderStudyParams(Section):
    """The ``reader_study:`` section: which cases a blinded real-vs-synthetic reading shows, in what order."""

    cases: int = Field(ge=2, le=1000)
    real_fraction: float = Field(gt=0, lt=1)
    splits: list[Literal["train", "test"]] = Field(min_length=1)
    seed: int = Field(ge=0)

    @model_validator(mode="after")
    def _both_kinds(self) -> ReaderStudyParams:
        if len(set(self.splits)) != len(self.splits):
            raise ValueError(f"splits: {self.splits} names a split twice")
        real = round(self.cases * self.real_fraction)
        if not 0 < real < self.cases:
            raise ValueError(f"real_fraction {self.real_fraction} of {self.cases} cases leaves no "
                             f"{'real' if real == 0 else 'synthetic'} case to show")
        return self


class Params(Section):
    """The whole params.yaml."""

    data: DataParams
    generator: GeneratorParams
    mix: MixParams
    segmenter: SegmenterParams
    search: SearchParams
    registry: RegistryParams
    intervals: IntervalParams
    trust: TrustParams
    reader_study: ReaderStudyParams

    @model_validator(mode="after")
    def _crops_fit(self) -> Params:
        grid = self.data.spatial_size
        for key, size in (("segmenter.patch_size", self.segmenter.patch_size),
                          ("generator.train.patch_size", self.generator.train.patch_size)):
            if any(p > g for p, g in zip(size, grid, strict=True)):
                raise ValueError(f"{key}: training crops {size} larger than the prepared grid data.spatial_size "
                                 f"{grid}")
        return self

    @model_validator(mode="after")
    def _sampling_fits(self) -> Params:
        # sampling runs the network on the whole grid, one case at a time
        problem = self.generator.train.attention_problem(self.data.spatial_size, 1, "data.spatial_size")
        if problem is not None:
            raise ValueError(f"generator.train.attention_levels: {problem}")
        return self


def _message(source: str, exc: ValidationError) -> str:
    """One line for the first error: ``<file>: <dotted key>: <problem> (got <value>)``."""
    error = exc.errors(include_url=False)[0]
    key = ".".join(str(p) for p in error["loc"]) or "(top level)"
    problem = error["msg"].removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        problem = "unknown key"
    elif error["type"] == "missing":
        problem = "missing key"
    # our own validators' messages carry their figures; pydantic's get the offending value
    own = error["type"] in ("missing", "extra_forbidden", "value_error") or isinstance(error["input"], dict)
    got = "" if own else f" (got {error['input']!r})"
    more = len(exc.errors()) - 1
    where = f"{key}: " if error["loc"] else ""  # a check across sections names its keys itself
    return f"{source}: {where}{problem}{got}" + (f" [and {more} more]" if more else "")


def read_yaml(path: str | Path) -> dict[str, Any]:
    """The params file as a mapping of sections; ParamsError naming the file otherwise."""
    path = Path(path)
    if not path.is_file():
        raise ParamsError(f"{path}: params file not found")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ParamsError(f"{path}: not valid YAML ({' '.join(str(exc).split())})") from None
    if not isinstance(raw, dict):
        raise ParamsError(f"{path}: expected a mapping of sections at the top level")
    return raw


def validate(model: type[Section], values: Any, source: str = "params") -> Any:
    """``model`` from ``values``, or ParamsError with one line naming ``source`` and the key."""
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        raise ParamsError(_message(source, exc)) from None


def replace(section: S, **changes: Any) -> S:
    """``section`` with ``changes`` (keys of its own level), validated like params.yaml: ``dataclasses.replace``
    for these frozen models (pydantic's ``model_copy(update=...)`` would skip validation)."""
    return validate(type(section), {**section.model_dump(), **changes}, type(section).__name__)


def load(path: str | Path = DEFAULT_PARAMS) -> Params:
    """Read and validate the whole params file."""
    return validate(Params, read_yaml(path), str(path))
