"""Hyperparameter tuning against a retrained model, on training data only (scripts/tune.py)."""
