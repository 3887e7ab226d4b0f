"""Unlearning measured against the retain oracle: forget / held-out / retain accuracy, model
utility, forget quality (KS test on truth ratios), membership attacks and PrivLeak, relearning.

Pure functions live in ``ks``, ``mia`` and ``truth_ratio``; ``report`` scores models with them.
"""
