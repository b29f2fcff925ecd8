"""Reports: ``curate.report(run_dir)`` writes ``RUN/report/report.html`` plus PNGs."""

from curate.reporting.build import report

__all__ = ["report"]
