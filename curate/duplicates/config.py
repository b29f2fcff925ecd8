"""Dedup settings as a pydantic model, so a recipe's ``dedup:`` block is checked before any work starts."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Method = Literal["exact", "near", "semantic"]
METHOD_ORDER: tuple[str, ...] = ("exact", "near", "semantic")


class _Thresholded(BaseModel):
    """A similarity ``threshold`` plus the ``floor`` down to which candidate pairs are kept, so a
    result can be re-thresholded without recomputing; the default floor is ``threshold - _gap``."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)
    _key: ClassVar[str]
    _gap: ClassVar[float]
    _lowest: ClassVar[float]

    @model_validator(mode="after")
    def _floor(self) -> _Thresholded:
        if self.floor is not None and self.floor > self.threshold:
            raise ValueError(f"{self._key}.floor {self.floor} is above {self._key}.threshold {self.threshold}")
        return self

    def candidate_floor(self) -> float:
        return self.floor if self.floor is not None else round(max(self._lowest, self.threshold - self._gap), 6)


class NearConfig(_Thresholded):
    """MinHash LSH over word (or character) n-grams of the lower-cased conversation text."""

    threshold: float = Field(0.7, gt=0.0, le=1.0, description="estimated Jaccard at or above which rows are duplicates")
    floor: float | None = Field(
        None, gt=0.0, le=1.0,
        description="lowest Jaccard kept as a candidate pair (re-threshold down to it); default threshold-0.1",
    )
    num_perm: int = Field(128, ge=8, le=1024)
    method: Literal["minhash", "oph"] = Field(
        "oph", description="signatures: oph (one hash per shingle, the default) or minhash (num_perm permutations per shingle)"
    )
    ngram: int = Field(3, ge=1, le=32, description="word 3-grams at 0.7 find copies with 2-6%% of words edited (docs/dedup.md)")
    shingle: Literal["word", "char"] = "word"
    seed: int = 0
    verify: Literal["signature", "exact"] = Field(
        "signature", description="similarity of candidate pairs: MinHash estimate, or exact Jaccard of shingle sets"
    )
    false_positive_weight: float = Field(0.5, ge=0.0, le=1.0)
    chunk_rows: int = Field(4_000, ge=1, description="rows shingled at once (bounds memory)")

    _key, _gap, _lowest = "near", 0.1, 0.05


class SemanticConfig(_Thresholded):
    """Cosine similarity of stored embeddings: exact blocked search for small data; above, SemDeDup-style
    k-means clusters searched exactly (``kmeans``, pure BLAS) or usearch HNSW k-NN (``usearch``)."""

    threshold: float = Field(0.95, gt=0.0, le=1.0)
    floor: float | None = Field(None, gt=0.0, le=1.0, description="lowest cosine kept as a pair; default threshold-0.05")
    k: int = Field(16, ge=1, le=1024, description="neighbours per row for the ANN backend")
    backend: Literal["auto", "exact", "kmeans", "usearch"] = "auto"
    exact_max_rows: int = Field(60_000, ge=1, description="'auto' uses exact search up to this many rows, kmeans above")
    clusters: int | None = Field(None, ge=1, description="k-means clusters for the kmeans backend; default sqrt(rows)")
    probes: int = Field(2, ge=1, le=64, description="nearest clusters each row is compared within (kmeans backend)")
    seed: int = 0
    embedding: str = Field("embedding", description="scorer name whose vectors to use (curate.store)")
    column: str = "embedding"

    _key, _gap, _lowest = "semantic", 0.05, 0.0


class DedupConfig(BaseModel):
    """The ``dedup:`` block of a recipe: which methods run and which copy survives.

    Attributes:
        methods: ``exact``, ``near`` and/or ``semantic``; they run in that order whatever the order given.
        keep: ``"first"``, ``"longest"``, or a score column (``"-col"`` keeps the lowest).
        near: the MinHash LSH settings (:class:`NearConfig`).
        semantic: the embedding cosine settings (:class:`SemanticConfig`).

    Raises:
        pydantic.ValidationError: an unknown key, a bad value, or ``methods`` empty or repeated (on
            construction and on every assignment).
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    methods: list[Method] = Field(default_factory=lambda: ["exact", "near"])
    keep: str = Field("first", description="'first', 'longest', or a score column ('-col' keeps the lowest)")
    near: NearConfig = Field(default_factory=NearConfig)
    semantic: SemanticConfig = Field(default_factory=SemanticConfig)

    @model_validator(mode="after")
    def _methods(self) -> DedupConfig:
        if not self.methods:
            raise ValueError("dedup.methods is empty; use e.g. [exact, near]")
        if len(set(self.methods)) != len(self.methods):
            raise ValueError(f"dedup.methods has repeats: {self.methods}")
        return self

    def ordered_methods(self) -> list[str]:
        """Methods always run exact -> near -> semantic, whatever order the recipe lists them in."""
        return [m for m in METHOD_ORDER if m in self.methods]
