"""``curate dedup INPUT_OR_RUN``: find exact / near / semantic duplicates and explain them."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

import pandas as pd

from curate.cli._args import add_limit, add_run_dir, deprecated
from curate.errors import UserError
from curate.rundir import RunDir

if TYPE_CHECKING:
    from curate.duplicates import DedupConfig


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("dedup", help="find exact, near (MinHash) and semantic duplicates; show clusters and borderline pairs",
                       description="Dedup a dataset (or a run directory) and print what would be removed and why.")
    p.add_argument("input", help="a run directory, a JSONL/JSON/Parquet file or folder, a hub id, or 'sharegpt-sample'")
    add_limit(p, "read only the first N records")
    p.add_argument("--methods", default="exact,near", help="comma list of exact, near, semantic (default exact,near)")
    p.add_argument("--near-threshold", type=float, default=None, help="near-dup Jaccard threshold (default 0.7)")
    deprecated(p, "--threshold", new="--near-threshold", dest="near_threshold", type=float)
    p.add_argument("--semantic-threshold", type=float, default=None, help="semantic cosine threshold (default 0.95)")
    p.add_argument("--num-perm", type=int, default=None, help="MinHash permutations (default 128)")
    p.add_argument("--ngram", type=int, default=None, help="shingle size (default 3 words)")
    p.add_argument("--shingle", choices=["word", "char"], default=None, help="word or character shingles (default word)")
    p.add_argument("--keep", default="first", help="which row survives: first, longest, or a score column (-col: lowest)")
    p.add_argument("--against", default=None, help="remove rows that duplicate any row of this dataset (decontamination)")
    p.add_argument("--show", default="clusters,borderline", help="comma list of clusters, borderline, histogram, none")
    p.add_argument("--top", type=int, default=5, help="clusters / borderline pairs to show per method")
    add_run_dir(p, "write the result to DIR/dedup/ (a run directory)", old=("--save",))
    p.add_argument("--plot", default=None, help="write a PNG histogram of pair similarities here")
    p.set_defaults(func=main)


def _read(path: str, n: int | None):
    run = RunDir(path)
    if run.conversations_path.exists():
        table = run.conversations_table()
        return table.slice(0, n) if n else table, run
    import curate

    return curate.load(path, limit=n).table, None


def _preview(texts: dict[str, str], key: str, width: int = 70) -> str:
    t = " ".join(texts.get(key, "").split())
    return t[:width] + ("..." if len(t) > width else "")


def _methods(args: argparse.Namespace) -> list[str]:
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    for flag, value, method in (("--near-threshold", args.near_threshold, "near"),
                                ("--semantic-threshold", args.semantic_threshold, "semantic")):
        if value is not None and method not in methods:
            raise UserError(f"{flag} applies to the {method} method; add it to --methods ({args.methods})")
    return methods


def _config(args: argparse.Namespace) -> DedupConfig:
    """The near and semantic settings the flags give, as a DedupConfig (flags not given keep its defaults)."""
    from curate.duplicates import DedupConfig

    near = {"threshold": args.near_threshold, "num_perm": args.num_perm, "ngram": args.ngram, "shingle": args.shingle}
    try:
        return DedupConfig(near={k: v for k, v in near.items() if v is not None},
                           semantic={} if args.semantic_threshold is None else {"threshold": args.semantic_threshold})
    except ValueError as e:
        raise UserError(f"dedup settings: {e}") from None


def _embeddings(run: RunDir | None, what: str):
    """Stored embeddings of a run directory, for the semantic method."""
    if run is None:
        raise UserError(f"{what} needs a run directory with stored embeddings (curate score ... --scorers embedding)")
    return run.embeddings()


def _texts(*tables) -> dict[str, str]:
    from curate.schema import conversation_text

    return {i: conversation_text(msgs) for t in tables if t is not None
            for i, msgs in zip(t["id"].to_pylist(), t["messages"].to_pylist(), strict=True)}


def _show(result, method: str, show: set[str], texts: dict[str, str], top: int) -> None:
    """Print the clusters, borderline pairs and histogram of one method, as ``--show`` asks."""
    if "clusters" in show:
        print(f"\n[{method}] largest clusters")
        for r in result.clusters(method, top=top).itertuples():
            print(f"  size {r.size:>4}  sim {r.min_similarity:.3f}-{r.max_similarity:.3f}  keep row {r.kept_row}: "
                  f"{_preview(texts, r.kept_id)}")
    if result.pairs[method].threshold is None:
        return
    if "borderline" in show:
        print(f"\n[{method}] borderline pairs (threshold {result.pairs[method].threshold})")
        for r in result.borderline(method, k=top).itertuples():
            print(f"  {r.side:<5} {r.similarity:.3f}  row {r.row_a} ~ row {r.row_b}: {_preview(texts, r.id_a, 50)}")
    if "histogram" in show:
        counts, edges = result.similarity_histogram(method, bins=10)
        print(f"\n[{method}] pair similarity histogram")
        for c, lo in zip(counts, edges[:-1], strict=True):
            print(f"  {lo:.2f}  {c}")


def main(args: argparse.Namespace) -> int:
    from curate.duplicates import dedup

    methods, config = _methods(args), _config(args)
    table, run = _read(args.input, args.limit)
    semantic = "semantic" in methods
    embeddings = _embeddings(run, "--methods semantic") if semantic else None
    scores = run.scores() if args.keep not in ("first", "longest") and run is not None else None
    against = against_emb = None
    if args.against:
        against, against_run = _read(args.against, None)
        against_emb = _embeddings(against_run, "--against with semantic") if semantic else None
    result = dedup(table, methods=methods, keep=args.keep, scores=scores, embeddings=embeddings, against=against,
                   against_embeddings=against_emb, config=config)
    s = result.summary()
    print(f"rows {s['rows']}  kept {s['kept']}  removed " + ", ".join(f"{m}={c}" for m, c in s["removed"].items()))
    for m, p in result.pairs.items():
        if p.threshold is not None:
            print(f"  {m}: threshold {p.threshold}, pairs kept down to {p.floor}: {len(p.sim)}")
    show = {x.strip() for x in args.show.split(",")}
    texts = _texts(table, against)
    with pd.option_context("display.width", 160, "display.max_colwidth", 80):
        for m in result.methods:
            _show(result, m, show, texts, args.top)
    if args.plot:
        print(f"\nhistogram: {result.plot_histogram(args.plot)}")
    if args.run_dir:
        print(f"saved: {result.save(args.run_dir)}")
    return 0
