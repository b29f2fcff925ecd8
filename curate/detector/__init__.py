"""A junk detector learned per dataset: corruption planted into the run's own rows, a classifier on the
run's general score columns, ``junk_prob`` for every valid row (``detector:`` in a recipe)."""

from curate.detector.config import COLUMN, DetectorConfig
from curate.detector.train import Detected, detect

__all__ = ["COLUMN", "Detected", "DetectorConfig", "detect"]
