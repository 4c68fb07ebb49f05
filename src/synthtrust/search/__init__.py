"""Optuna search over the synthetic fraction alpha (stage ``search``)."""

EXPERIMENT = "synthtrust-search"  # the MLflow experiment of the search (parent and trials) and of register
