"""synthtrust: measured trust in synthetic brain-tumour MRI for segmentation."""

__version__ = "0.1.0"
