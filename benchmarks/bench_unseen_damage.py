"""Damage nobody described: what a recipe's quality subset keeps of corruption that is in no family of
curate's library, so neither the detector's planting nor its held-out variants resemble it.

Leave-one-variant-out (``bench_generalization.py``) holds out one variant of a family whose siblings the
detector still learns from; this holds out whole kinds. Two sets of six edits written for this script only,
each set's kinds in turn on 30% of a domain's rows (the first answer). ``--edits tuning`` (the default) is the
set settings were judged on: ``typos`` (12% of longer words get two letters swapped), ``shouting`` (the answer
in capitals), ``spam_tail`` (an advert line appended), ``sentence_shuffle`` (the answer's sentences in random
order), ``prompt_echo`` (the question pasted before the answer), ``dropped_words`` (every fifth word gone).
``--edits validation`` was held back to confirm a setting chosen on the first: ``ocr_noise`` (lookalike
characters), ``doubled_words``, ``flattened`` (line breaks lost), ``title_case``, ``spliced`` (a sentence of
another row's answer inserted), ``detokenized`` (tokenizer spacing: "it 's fine , really ."). The recipe runs
as shipped (its ``detector:`` plants its own library into the rows, these edits included as "clean"), and
each kind's share of the subset is compared with its share of the pool (1 = random).

    .venv/bin/python benchmarks/bench_unseen_damage.py --domains head,tail,code,short --rows 600 --seeds 0,1
    .venv/bin/python benchmarks/bench_unseen_damage.py --edits validation --models all --domains tail

Writes OUT/summary.json and prints one line per domain and seed.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
RATE = 0.3
BUDGET = 0.5  # of the pool's rows
SPAM = ("Visit www.best-deals-online.com for 50% off today!", "Subscribe to our newsletter for more tips like this!!!",
        "Click here to claim your free gift card: bit.ly/3xYz")


def _typos(answer: str, rng: random.Random, question: str, other: str) -> str:
    words = answer.split(" ")
    for i, w in enumerate(words):
        if len(w) > 3 and rng.random() < 0.12:
            j = rng.randrange(len(w) - 1)
            words[i] = w[:j] + w[j + 1] + w[j] + w[j + 2:]
    return " ".join(words)


def _sentences(text: str) -> list[str]:
    return re.split(r"(?<=[.!?])\s+", text.strip())


def _sentence_shuffle(answer: str, rng: random.Random, question: str, other: str) -> str:
    sentences = _sentences(answer)
    rng.shuffle(sentences)
    return " ".join(sentences)


LOOKALIKE = {"l": "1", "o": "0", "O": "0", "e": "c", "i": "l", "a": "o", "S": "5", "m": "rn"}


def _ocr_noise(answer: str, rng: random.Random, question: str, other: str) -> str:
    return "".join(LOOKALIKE[c] if c in LOOKALIKE and rng.random() < 0.08 else c for c in answer)


def _spliced(answer: str, rng: random.Random, question: str, other: str) -> str:
    mine, theirs = _sentences(answer), _sentences(other)
    mine.insert(rng.randrange(len(mine) + 1), rng.choice(theirs))
    return " ".join(mine)


def _detokenized(answer: str, rng: random.Random, question: str, other: str) -> str:
    text = re.sub(r"([,.;:!?)])", r" \1", answer)
    return re.sub(r"(\w)'(\w)", r"\1 '\2", re.sub(r"\(", "( ", text))


Edit = Callable[[str, random.Random, str, str], str]  # (answer, rng, question, another row's answer) -> answer
# Used to choose settings (sessions of 2026-12-03): a change is judged by the tuning set, confirmed on the other.
TUNING: dict[str, Edit] = {
    "typos": _typos,
    "shouting": lambda a, rng, q, o: a.upper(),
    "spam_tail": lambda a, rng, q, o: a.rstrip() + "\n\n" + rng.choice(SPAM),
    "sentence_shuffle": _sentence_shuffle,
    "prompt_echo": lambda a, rng, q, o: q.strip() + "\n\n" + a,
    "dropped_words": lambda a, rng, q, o: " ".join(w for i, w in enumerate(a.split(" ")) if i % 5 != 4),
}
# Held back: written before any setting was judged on them, and never used to choose one.
VALIDATION: dict[str, Edit] = {
    "ocr_noise": _ocr_noise,  # lookalike characters (l -> 1, m -> rn) in 8% of the places they can go
    "doubled_words": lambda a, rng, q, o: " ".join(w + (" " + w if rng.random() < 0.08 else "") for w in a.split(" ")),
    "flattened": lambda a, rng, q, o: re.sub(r"\s*\n\s*", " ", a),  # every line break lost
    "title_case": lambda a, rng, q, o: a.title(),
    "spliced": _spliced,  # a sentence of another row's answer inserted at a random place
    "detokenized": _detokenized,  # tokenizer residue: "it 's fine , really ."
}
EDIT_SETS = {"tuning": TUNING, "validation": VALIDATION}


def damage(convs: list[list[dict]], seed: int, edits: dict[str, Edit]) -> tuple[list[list[dict]], list[str]]:
    """``RATE`` of the rows with one edit each (kinds in turn) on the first answer; the kind per row ('' = untouched,
    also when the edit changed nothing). The next row's first answer is the donor an edit may take from."""
    from curate.auditing.corruptions import first_answer
    from curate.schema import first_user

    rng = random.Random(seed)
    out, kinds, names = [list(c) for c in convs], [""] * len(convs), list(edits)
    for n, p in enumerate(rng.sample(range(len(convs)), int(RATE * len(convs)))):
        kind = names[n % len(names)]
        msgs = [dict(m) for m in convs[p]]
        i = first_answer(msgs)
        donor = convs[(p + 1) % len(convs)]
        edited = edits[kind](msgs[i]["content"], rng, first_user(msgs[:i]), donor[first_answer(donor)]["content"])
        if edited != msgs[i]["content"]:
            msgs[i]["content"] = edited
            out[p], kinds[p] = msgs, kind
    return out, kinds


def run_one(recipe: dict, convs: list[list[dict]], out: Path, seed: int, subset: str, edits: dict[str, Edit]) -> dict:
    """Damage, run the recipe, and measure ``subset``: fill and each kind's share next to the pool's."""
    import curate
    from curate.rundir import RunDir, write_jsonl

    rows, kinds = damage(convs, seed, edits)
    out.mkdir(parents=True, exist_ok=True)
    write_jsonl(out / "pool.jsonl", ({"messages": c, "damage": k} for c, k in zip(rows, kinds, strict=True)))
    budget = round(BUDGET * len(rows))
    rec = {**recipe, "name": "unseen", "input": {"source": str(out / "pool.jsonl")}, "train": None,
           "run_dir": str(out / "run"), "subsets": [{**s, "budget": budget} for s in recipe["subsets"] if s["name"] == subset]}
    started = time.process_time()
    curate.run(rec, progress=False)
    run = RunDir(out / "run")
    pool = run.pool()
    kind = pool["damage"].fillna("")
    chosen = pool["id"].isin(set(run.selections()[subset]["id"]))
    damaged = kind != ""

    def ratio(mask) -> float | None:
        return round(float((mask & chosen).sum() / chosen.sum() / (mask.sum() / len(pool))), 3) if mask.sum() else None

    return {"fill": round(int(chosen.sum()) / budget, 3), "ratio": ratio(damaged),
            "by_kind": {k: ratio(kind == k) for k in edits}, "cpu_s": round(time.process_time() - started, 1)}


def main() -> int:
    from bench_generalization import _recipe, domain_rows

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--recipe", type=Path, default=ROOT / "recipes" / "demo.yaml")
    ap.add_argument("--subset", default="quality")
    ap.add_argument("--domains", default="head,tail,code,short")
    ap.add_argument("--rows", type=int, default=600)
    ap.add_argument("--seeds", default="0")
    ap.add_argument("--models", choices=["all", "no-lm", "none"], default="none",
                    help="the recipe's model scorers: all, all but the LM, or none (heuristics, consistency, texture)")
    ap.add_argument("--edits", choices=sorted(EDIT_SETS), default="tuning",
                    help="tuning: the six edits settings were judged on; validation: six held back to confirm them")
    ap.add_argument("--out", type=Path, default=ROOT / "runs" / "bench-unseen-damage")
    args = ap.parse_args()
    recipe = _recipe(args.recipe, args.models, exclude=[])  # the same recipe handling as bench_generalization
    results = {}
    for domain in args.domains.split(","):
        convs = domain_rows(domain, args.rows)
        for seed in (int(s) for s in args.seeds.split(",")):
            row = run_one(recipe, convs, args.out / f"{domain}-{seed}", seed, args.subset,
                          EDIT_SETS[args.edits])
            results[f"{domain}/{seed}"] = row
            kinds = "  ".join(f"{k} {v}" for k, v in row["by_kind"].items())
            print(f"{domain:8s} seed {seed}  fill {row['fill']:.2f}  damage kept vs random {row['ratio']}  ({kinds})  "
                  f"{row['cpu_s']} CPU s", flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "summary.json").write_text(json.dumps({"recipe": str(args.recipe), "models": args.models, "edits": args.edits,
                                                       "rows": args.rows, "results": results}, indent=1))
    ratios = [r["ratio"] for r in results.values() if r["ratio"] is not None]
    print(f"mean damage kept vs random {sum(ratios) / len(ratios):.3f} over {len(ratios)} runs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
