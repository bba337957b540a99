"""Datasets, degradations, the face cache, the training recipe and calibration."""
