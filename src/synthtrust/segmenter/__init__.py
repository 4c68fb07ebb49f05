"""The SwinUNETR segmenter: transforms, training and regional evaluation."""
