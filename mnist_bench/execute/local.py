"""The local executor: each cell in turn, in its own worker process on this machine."""

from __future__ import annotations

from ..measure import environment
from .process import prestart, run_here
from .sink import Sink


class LocalExecutor:
    """Runs cells one at a time here; ``timeout_for(cell)`` is each cell's time limit."""

    def __init__(self, sink: Sink, timeout_for, on_start=lambda cell: None,
                 on_event=lambda cell, event: None):
        self.sink, self.timeout_for = sink, timeout_for
        self.on_start, self.on_event = on_start, on_event
        self._facts = None

    @property
    def facts(self) -> dict:
        """This machine's facts for every record (measured once, when the first cell runs)."""
        if self._facts is None:
            self._facts = environment.facts()
        return self._facts

    def run(self, cells, stop=None) -> None:
        """Each cell in turn; ``stop()``, asked before each cell, ends the run early (a spent
        budget), so a run outlives it by at most the cell in progress."""
        cells = list(cells)
        prestart(cells)  # every backend's imports at once, before the first cell
        for cell in cells:
            if stop is not None and stop():
                return
            self.on_start(cell)
            attempt = run_here(cell, self.timeout_for(cell), lambda e, c=cell: self.on_event(c, e))
            self.sink.write(cell, attempt, self.facts, self.timeout_for(cell))
