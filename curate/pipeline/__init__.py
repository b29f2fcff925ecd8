"""``curate.run(recipe)``: the whole recipe into a run directory, as a loop over steps.

ingest (sharded, quarantine) -> heuristics -> validity -> score (model scorers, valid rows only) ->
dedup -> subsets -> report. Each step has a name and a fingerprint (its settings plus the fingerprint
of the steps before it); a step whose marker in ``RUN/steps/`` matches is restored instead of run, so
changing only the subsets re-runs in seconds and an interrupted run continues where it stopped with the
same outputs. The run directory's layout is documented in :class:`curate.rundir.RunDir`.
"""

from curate.pipeline.context import Context, Step, StepCounts
from curate.pipeline.runner import RunSummary, run, steps

__all__ = ["Context", "RunSummary", "Step", "StepCounts", "run", "steps"]
