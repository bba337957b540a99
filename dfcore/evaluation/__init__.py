"""Measurements: metrics, evaluation runs, model cards, the checks of kinds of footage never trained on; speed in `speed/`."""
