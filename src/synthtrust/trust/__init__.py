"""The five trust factors of docs/trust.md (fidelity, utility parity, regional robustness, diversity, privacy)."""
