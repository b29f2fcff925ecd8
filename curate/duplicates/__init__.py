"""Deduplication: exact (same normalized id), near (MinHash LSH) and semantic (embedding cosine).

``curate.dedup(...)`` returns a :class:`DedupResult` that records why each row went, and can be
re-thresholded, explained (clusters, borderline pairs, histograms) and saved to ``RUN/dedup/``;
``dedup_signatures(rows, signatures, lengths)`` does the same from precomputed MinHash signatures.
"""

from curate.duplicates.api import dedup, dedup_signatures
from curate.duplicates.config import DedupConfig, NearConfig, SemanticConfig
from curate.duplicates.result import DedupResult

__all__ = ["DedupConfig", "DedupResult", "NearConfig", "SemanticConfig", "dedup", "dedup_signatures"]
