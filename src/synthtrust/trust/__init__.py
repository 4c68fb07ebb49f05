"""The five trust factors of DESIGN.md (fidelity, utility parity, regional robustness, diversity, privacy)."""
