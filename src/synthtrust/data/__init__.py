"""BraTS data: discovery, validation, phantoms and the prepare stage."""
