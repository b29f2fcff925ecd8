"""How many rows of the bundled ShareGPT sample each repair saves from the validity checks and from
quarantine (issue 21 §2). ``python benchmarks/repairs_sharegpt.py [limit]`` prints one JSON line per repair
setting: read, quarantined, kept, rows failing role_order / ends_with_assistant / template_leak, rows passing
the demo recipe's validity checks, and the repair counts."""

from __future__ import annotations

import json
import sys

import numpy as np

import curate
from curate.schema import REPAIRS
from curate.scorers.heuristic_columns import heuristic_values
from curate.validity import CHECKS as VALIDITY_CHECKS

DEMO_VALIDITY = ("role_order", "template_leak", "ends_with_assistant")  # recipes/demo.yaml


def measure(limit: int | None, repairs: tuple[str, ...]) -> dict:
    data = curate.load("sharegpt-sample", limit=limit, repairs=repairs)
    cols = heuristic_values(data.table["messages"])
    failing = {c.name: np.asarray(cols[c.column]) == c.fails for c in VALIDITY_CHECKS if c.name in DEMO_VALIDITY}
    passing = int((~np.logical_or.reduce(list(failing.values()))).sum())
    return {"repairs": list(repairs), "read": data.read, "quarantined": len(data.quarantine), "kept": len(data),
            "fails": {k: int(v.sum()) for k, v in failing.items()}, "pass_validity": passing,
            "pass_share": round(passing / data.read, 4), "repaired": data.repaired}


if __name__ == "__main__":
    limit = int(sys.argv[1]) if len(sys.argv) > 1 else None
    for repairs in [(), *[(r,) for r in REPAIRS], REPAIRS]:
        print(json.dumps(measure(limit, repairs)), flush=True)
