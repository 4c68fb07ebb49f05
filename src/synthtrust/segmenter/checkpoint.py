"""Segmenter checkpoints as training writes them (MONAI's CheckpointSaver) or as bare state dicts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch


def load_network_state(checkpoint: str | Path, device: str | torch.device = "cpu") -> tuple[dict[str, Any], str]:
    """The network's state dict in ``checkpoint`` and its key there: ``"model"`` in CheckpointSaver's nested
    checkpoints, ``""`` for a bare state dict (the ``key_in_ckpt`` of ``monai.bundle ckpt_export``)."""
    state = torch.load(checkpoint, map_location=device, weights_only=True)
    nested = isinstance(state, dict) and isinstance(state.get("model"), dict)
    return (state["model"], "model") if nested else (state, "")
