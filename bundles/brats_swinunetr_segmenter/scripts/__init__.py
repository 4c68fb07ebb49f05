"""The segmenter bundle's own code (model-zoo convention: configs refer to it as ``scripts.<module>``)."""
