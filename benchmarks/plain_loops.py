"""Plain PyTorch training loops: the yardstick the bundles' MONAI trainers are measured against.

Written in the style of the SwinUNETR BraTS21 reference training script (Project-MONAI research-contributions,
``SwinUNETR/BRATS21/trainer.py``): a ``for`` loop, ``autocast`` with a ``GradScaler`` on CUDA,
``zero_grad`` / ``backward`` / ``step``. The batches are already in memory on the device, so the loop
pays for nothing but the network, the loss and the optimizer: a trainer can only be slower, and the ratio
says by how much its data pipeline and engine cost.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import torch
from monai.networks.schedulers import Scheduler


def synchronize(device: torch.device) -> None:
    """Wait for the device, so that wall-clock times cover the work queued on it."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_steps(step: Callable[[int], None], steps: int, device: torch.device) -> list[float]:
    """Seconds of each of ``steps`` calls of ``step(i)``, measured with the device synchronised."""
    times = []
    for i in range(steps):
        synchronize(device)
        started = time.perf_counter()
        step(i)
        synchronize(device)
        times.append(time.perf_counter() - started)
    return times


def segmenter_loop(network: torch.nn.Module, batches: Sequence[tuple[torch.Tensor, torch.Tensor]],
                   loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], optimizer: torch.optim.Optimizer,
                   steps: int, amp: bool) -> list[float]:
    """Supervised segmentation steps over ``batches`` (image, label) cycled; seconds per step."""
    device = batches[0][0].device
    scaler = torch.amp.GradScaler(device.type, enabled=amp)
    network.train()

    def step(i: int) -> None:
        image, label = batches[i % len(batches)]
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(device.type, enabled=amp):
            loss = loss_fn(network(image), label)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()

    return time_steps(step, steps, device)


def diffusion_loop(network: torch.nn.Module, batches: Sequence[tuple[torch.Tensor, torch.Tensor]],
                   scheduler: Scheduler, optimizer: torch.optim.Optimizer, ema: torch.nn.Module,
                   ema_momentum: float, steps: int, amp: bool) -> list[float]:
    """Concat-conditioned diffusion steps over ``batches`` (image, condition) cycled, L1 loss on the
    scheduler's prediction target, and an EMA update of ``ema`` after every step; seconds per step."""
    device = batches[0][0].device
    scaler = torch.amp.GradScaler(device.type, enabled=amp)
    network.train()
    kind = scheduler.prediction_type

    def step(i: int) -> None:
        image, cond = batches[i % len(batches)]
        noise = torch.randn_like(image)
        t = torch.randint(0, scheduler.num_train_timesteps, (image.shape[0],), device=device).long()
        target = image if kind == "sample" else scheduler.get_velocity(image, noise, t) \
            if kind == "v_prediction" else noise
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(device.type, enabled=amp):
            noisy = torch.cat([scheduler.add_noise(image, noise, t), cond], dim=1)
            loss = torch.nn.functional.l1_loss(network(noisy, timesteps=t).float(), target)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        with torch.no_grad():
            for averaged, current in zip(ema.parameters(), network.parameters(), strict=True):
                averaged.lerp_(current, ema_momentum)

    return time_steps(step, steps, device)
