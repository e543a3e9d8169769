"""Preparing references: training augmentation, face crops and cut-outs, real face detectors and embedders."""
