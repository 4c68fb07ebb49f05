"""The label-conditioned 3D diffusion generator: conditioning, training engine pieces, sampling."""
