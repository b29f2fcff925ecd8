"""``curate dedup INPUT_OR_RUN``: find exact / near / semantic duplicates and explain them."""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from curate.errors import UserError


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("dedup", help="find exact, near (MinHash) and semantic duplicates; show clusters and borderline pairs",
                       description="Dedup a dataset (or a run directory) and print what would be removed and why.")
    p.add_argument("input", help="a run directory, a JSONL/JSON/Parquet file or folder, a hub id, or 'sharegpt-sample'")
    p.add_argument("--n", type=int, default=None, help="read only the first N records")
    p.add_argument("--methods", default="exact,near", help="comma list of exact, near, semantic (default exact,near)")
    p.add_argument("--threshold", type=float, default=None, help="near-dup Jaccard threshold (default 0.7)")
    p.add_argument("--semantic-threshold", type=float, default=None, help="semantic cosine threshold (default 0.95)")
    p.add_argument("--num-perm", type=int, default=None, help="MinHash permutations (default 128)")
    p.add_argument("--ngram", type=int, default=None, help="shingle size (default 3 words)")
    p.add_argument("--shingle", choices=["word", "char"], default=None, help="word or character shingles (default word)")
    p.add_argument("--keep", default="first", help="which row survives: first, longest, or a score column (-col: lowest)")
    p.add_argument("--against", default=None, help="remove rows that duplicate any row of this dataset (decontamination)")
    p.add_argument("--show", default="clusters,borderline", help="comma list of clusters, borderline, histogram, none")
    p.add_argument("--top", type=int, default=5, help="clusters / borderline pairs to show per method")
    p.add_argument("--save", default=None, help="write the result to DIR/dedup/ (a run directory)")
    p.add_argument("--plot", default=None, help="write a PNG histogram of pair similarities here")
    p.set_defaults(func=main)


def _read(path: str, n: int | None):
    from curate.duplicates.api import as_table

    run = Path(path)
    if (run / "data" / "conversations.parquet").exists():
        table = as_table(path)
        return table.slice(0, n) if n else table, run
    import curate

    return curate.load(path, n=n).table, None


def _preview(texts: dict[str, str], key: str, width: int = 70) -> str:
    t = " ".join(texts.get(key, "").split())
    return t[:width] + ("..." if len(t) > width else "")


def main(args: argparse.Namespace) -> int:
    from curate.duplicates import dedup
    from curate.schema import conversation_text

    table, run = _read(args.input, args.n)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    embeddings = scores = against = against_emb = None
    if "semantic" in methods:
        if run is None:
            raise UserError("--methods semantic needs a run directory with stored embeddings (curate score ... embedding)")
        from curate.store import load_embeddings

        embeddings = load_embeddings(run)
    keep = args.keep
    if keep not in ("first", "longest") and run is not None:
        import curate

        scores = curate.scores(run)
    if args.against:
        against, against_run = _read(args.against, None)
        if "semantic" in methods:
            if against_run is None:
                raise UserError("--against with semantic needs a run directory with embeddings for the reference set")
            from curate.store import load_embeddings

            against_emb = load_embeddings(against_run)
    result = dedup(table, methods=methods, keep=keep, scores=scores, embeddings=embeddings, against=against,
                   against_embeddings=against_emb, threshold=args.threshold, num_perm=args.num_perm, ngram=args.ngram,
                   shingle=args.shingle, semantic_threshold=args.semantic_threshold)
    s = result.summary()
    print(f"rows {s['rows']}  kept {s['kept']}  removed " + ", ".join(f"{m}={c}" for m, c in s["removed"].items()))
    for m, p in result.pairs.items():
        if p.threshold is not None:
            print(f"  {m}: threshold {p.threshold}, pairs kept down to {p.floor}: {len(p.sim)}")
    show = {x.strip() for x in args.show.split(",")}
    texts = {i: conversation_text(msgs) for i, msgs in zip(table["id"].to_pylist(), table["messages"].to_pylist(), strict=True)}
    if against is not None:
        texts |= {i: conversation_text(msgs) for i, msgs in
                  zip(against["id"].to_pylist(), against["messages"].to_pylist(), strict=True)}
    with pd.option_context("display.width", 160, "display.max_colwidth", 80):
        for m in result.methods:
            if "clusters" in show:
                c = result.clusters(m, top=args.top)
                print(f"\n[{m}] largest clusters")
                for r in c.itertuples():
                    print(f"  size {r.size:>4}  sim {r.min_similarity:.3f}-{r.max_similarity:.3f}  keep row {r.kept_row}: "
                          f"{_preview(texts, r.kept_id)}")
            if "borderline" in show and result.pairs[m].threshold is not None:
                b = result.borderline(m, k=args.top)
                print(f"\n[{m}] borderline pairs (threshold {result.pairs[m].threshold})")
                for r in b.itertuples():
                    print(f"  {r.side:<5} {r.similarity:.3f}  row {r.row_a} ~ row {r.row_b}: {_preview(texts, r.id_a, 50)}")
            if "histogram" in show and result.pairs[m].threshold is not None:
                counts, edges = result.similarity_histogram(m, bins=10)
                print(f"\n[{m}] pair similarity histogram")
                for c_, lo in zip(counts, edges[:-1], strict=True):
                    print(f"  {lo:.2f}  {c_}")
    if args.plot:
        print(f"\nhistogram: {result.plot_histogram(args.plot)}")
    if args.save:
        print(f"saved: {result.save(args.save)}")
    return 0
