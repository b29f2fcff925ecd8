"""A junk detector learned per dataset: corruption planted into the run's own rows, a classifier on the
run's general score columns, ``junk_prob`` for every valid row (``detector:`` in a recipe), and
``atypical``: how far out its most unusual score lies among the run's rows."""

from curate.detector.alignment import MARGIN
from curate.detector.atypical import ATYPICAL
from curate.detector.config import COLUMN, DetectorConfig
from curate.detector.train import Detected, detect

COLUMNS = (COLUMN, ATYPICAL, MARGIN)  # the columns the detector step adds to a run's scores

__all__ = ["ATYPICAL", "COLUMN", "COLUMNS", "MARGIN", "Detected", "DetectorConfig", "detect"]
