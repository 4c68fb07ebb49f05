"""Around the generator bundle: the synthetic dataset it writes, and checks of what it makes."""

EXPERIMENT = "synthtrust-generator"  # the MLflow experiment of train_generator and synthesize
