"""Answers generated on a background thread, so a page can redraw them while they stream, stop them
one at a time, and keep what was said when the user moves on. Streamlit-free."""

from __future__ import annotations

import threading
from typing import Any

from curate.train.generate import Answer, Generator


class Job:
    """One ``Generator.generate_batch`` call running on a daemon thread; its ``answers`` fill in place."""

    def __init__(self, gen: Generator, requests: list[tuple[str, list[dict]]], settings: dict[str, Any],
                 answers: list[Answer] | None = None):
        self.answers = answers if answers is not None else [Answer(name) for name, _ in requests]
        self.settings = dict(settings)
        self.error: str | None = None
        self._thread = threading.Thread(target=self._work, args=(gen, requests), name="curate-generate",
                                        daemon=True)
        self._thread.start()

    def _work(self, gen: Generator, requests: list[tuple[str, list[dict]]]) -> None:
        try:
            gen.generate_batch(requests, answers=self.answers, **self.settings)
        except Exception as e:  # shown by the page; the answers that were not done say so too
            self.error = str(e)
            for a in self.answers:
                if not a.done:
                    a.finish, a.error = "error", str(e)

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def stop(self) -> None:
        """Ask every answer still being sampled to stop after its next token."""
        for a in self.answers:
            a.stop_requested = True

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the job ends (or ``timeout`` seconds); True when it has ended."""
        self._thread.join(timeout)
        return not self._thread.is_alive()
