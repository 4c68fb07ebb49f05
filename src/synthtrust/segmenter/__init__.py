"""Around the segmenter bundle: training on a mix, scoring a checkpoint, reading checkpoints."""

EXPERIMENT = "synthtrust-segmenter"  # the MLflow experiment of train_segmenter and evaluate
TEST_SETS = ("real", "synthetic")  # what a model is scored on: the real test split and its synthetic copies
