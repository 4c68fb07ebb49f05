"""Optuna search over the synthetic fraction alpha (stage ``search``)."""
