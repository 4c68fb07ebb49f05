"""Whether the generator's network fits one GPU: the figures params.yaml is checked against before anything runs.

The 3D diffusion UNet's memory is dominated by two things (measured on one 80 GB H100 at 128^3, batch 1,
bf16, issue 13 of the project):

* **attention**: MONAI's ``DiffusionModelUNet`` attends over every voxel of a level that has attention, and
  its middle block always attends at the lowest level. Plain attention materialises one (heads, T, T)
  matrix per sample: at 32^3 tokens and 16 heads that is 64 GiB in float32, which no GPU holds. With
  ``use_flash_attention`` (PyTorch's scaled-dot-product attention) memory grows linearly with T, but the
  compute still grows with T^2; 32^3 tokens ran at 0.45 s per training step, and that is the bound here.
* **convolution activations** kept for the backward pass: about :data:`ACTIVATION_BYTES` bytes per channel,
  voxel and residual block (30 GiB for the paper network, channels 64/128/256/256, two residual blocks, at
  128^3; the figure that calibrates the constant).

These are estimates that decide whether to start, not allocator accounting: the GPU smoke suite
(``pytest -m gpu``) prints the measured peak beside the estimate.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

#: one plain attention matrix (float32) larger than this is refused
ATTENTION_MATRIX_MAX_GIB = 8.0
#: attention over more tokens than this is refused even with flash attention (quadratic compute)
MAX_ATTENTION_TOKENS = 32**3
#: what one 80 GB GPU leaves for a training step after the CUDA context, weights and optimizer state
DEVICE_MEMORY_GIB = 72.0
#: bytes kept per channel x voxel x residual block in a mixed-precision training step (calibrated above)
ACTIVATION_BYTES = 36.0
GIB = 2**30


def level_shape(size: Sequence[int], level: int) -> list[int]:
    """The spatial shape at ``level`` (each level halves every side)."""
    return [s // 2**level for s in size]


def attention_problem(channels: Sequence[int], attention_levels: Sequence[bool], num_head_channels: int,
                      use_flash_attention: bool, size: Sequence[int], batch: int, where: str) -> str | None:
    """Why attention at ``size`` (``where`` names the key that set it) cannot run, or None if it can."""
    lowest = len(channels) - 1
    levels = sorted({i for i, on in enumerate(attention_levels) if on} | {lowest})  # + the middle block
    for level in levels:
        shape = level_shape(size, level)
        tokens = math.prod(shape)
        heads = max(1, channels[level] // num_head_channels)
        what = (f"level {level} attends over {tokens} tokens ({'x'.join(map(str, shape))} at {where} "
                f"{list(size)}{', the middle block' if level == lowest else ''})")
        fix = ("more levels in channels" if level == lowest else f"attention_levels[{level}]: false")
        if tokens > MAX_ATTENTION_TOKENS:
            return (f"{what}, over the {MAX_ATTENTION_TOKENS}-token bound (attention compute grows with its "
                    f"square): {fix}, or a smaller {where}")
        matrix_gib = batch * heads * tokens**2 * 4 / GIB
        if not use_flash_attention and matrix_gib > ATTENTION_MATRIX_MAX_GIB:
            return (f"{what}; one attention matrix is {matrix_gib:.1f} GiB ({heads} heads, batch {batch}, "
                    f"float32), over the {ATTENTION_MATRIX_MAX_GIB:.0f} GiB bound: use_flash_attention: true, "
                    f"or {fix}")
    return None


def activation_gib(channels: Sequence[int], num_res_blocks: int, size: Sequence[int], batch: int) -> float:
    """Estimated activation memory (GiB) of one training step: encoder and decoder residual blocks per level."""
    blocks = 2 * num_res_blocks + 1  # num_res_blocks down, num_res_blocks + 1 up
    units = sum(c * math.prod(level_shape(size, level)) for level, c in enumerate(channels))
    return batch * units * blocks * ACTIVATION_BYTES / GIB


def activation_problem(channels: Sequence[int], num_res_blocks: int, size: Sequence[int], batch: int) -> str | None:
    """Why a training step's activations at ``batch`` x ``size`` cannot fit one GPU, or None if they can."""
    gib = activation_gib(channels, num_res_blocks, size, batch)
    if gib <= DEVICE_MEMORY_GIB:
        return None
    return (f"a training step keeps about {gib:.0f} GiB of activations (batch {batch} of {list(size)}, channels "
            f"{list(channels)}), over the {DEVICE_MEMORY_GIB:.0f} GiB one 80 GB GPU holds: a smaller batch_size or "
            "patch_size")
