"""Progress of a run: a live display on a terminal, plain lines in a log."""

from __future__ import annotations

import time

from ..settings import BASELINE_BACKEND

from ..execute.estimate import expected_s
from ..identity import of_cell


class Estimate:
    """Time left for the cells still to run, from the cells already run
    (``execute.estimate.expected_s``, the estimate the budget uses too); refined as each
    finishes."""

    def __init__(self):
        self.pending, self.took = [], []  # [identity], [(identity, seconds)]

    def expect(self, cells) -> None:
        self.pending = [of_cell(c) for c in cells]

    def started(self, cell) -> None:
        key = of_cell(cell).anywhere()  # a Ray node's copy of a cell names its node
        for i, c in enumerate(self.pending):
            if c.anywhere() == key:
                del self.pending[i]
                return

    def finished(self, cell, seconds) -> None:
        self.took.append((of_cell(cell), seconds))

    def left_s(self) -> float | None:
        """Seconds the pending cells will likely take; None before any cell finished."""
        return expected_s(self.pending, self.took) if self.pending else 0.0

    def text(self, block: bool) -> str:
        left = self.left_s()
        if left is None:
            return "time left: estimating"
        where = " in this block" if block else ""
        return f"about {_minutes(left)} left{where}"


def _minutes(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min"


def _live(console, total: int | None):
    """The live line, fitted to the terminal: the cell (cut with "…" where it must be), the
    count of cells done, the elapsed time, the time left and the epoch; a bar where there is
    room. Without a known total (``--until-decided``) the count is of cells done."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Column

    width = console.width
    count = "{task.completed}/{task.total:.0f} cells" if total is not None else "{task.completed} cells done"
    columns = [TextColumn("{task.description}", table_column=Column(
                   max_width=max(16, width - 54), no_wrap=True, overflow="ellipsis")),
               *([BarColumn(bar_width=10)] if width >= 110 else []),
               TextColumn(count, table_column=Column(no_wrap=True)),
               TimeElapsedColumn(),
               TextColumn("{task.fields[left]}", table_column=Column(no_wrap=True)),
               TextColumn("{task.fields[epoch]}", table_column=Column(no_wrap=True))]
    live = Progress(*columns, console=console)
    return live, live.add_task("starting", total=total, epoch="", left="")


class Printer:
    """Progress callbacks (``on_start``, ``on_event``, ``on_record``, ``done``): a live line
    (cell, count, elapsed, estimated time left, epoch) on a terminal, plain lines otherwise (CI
    logs, files). ``total`` None: not known in advance (``--until-decided``: the estimate is for
    the block being run). ``estimate`` holds the cells still to run (``Estimate.expect``)."""

    def __init__(self, console, total: int | None, estimate: Estimate | None = None):
        self.console, self.total = console, total
        self.estimate = estimate or Estimate()
        self.n, self.t0, self.cell = 0, time.monotonic(), ""
        self.live, self.task = _live(console, total) if console.is_terminal else (None, None)

    def say(self, text: str) -> None:
        (self.live.console if self.live else self.console).print(text, highlight=False, markup=False)

    def on_event(self, cell, event) -> None:
        if event.get("event") != "epoch":
            return
        acc = event.get("accuracy")
        # the baseline's passes stop when it converges: their cap is not a count to reach
        of = "" if cell.backend == BASELINE_BACKEND else f"/{event['epochs']}"
        word = "pass" if cell.backend == BASELINE_BACKEND else "epoch"
        if self.live:
            self.live.update(self.task, epoch=f"{word[0]}{event['epoch']}{of} {event['seconds']:.2f}s"
                             + (f" {acc:.3f}" if acc is not None else ""))
        else:
            self.say(f"    {word} {event['epoch']}{of}  {event['seconds']:.2f} s"
                     + (f"  acc {acc:.4f}" if acc is not None else ""))

    def on_start(self, cell) -> None:
        self.estimate.started(cell)
        self.n += 1
        self.cell = f"[{self.n}{'' if self.total is None else f'/{self.total}'}] {cell.label()}"
        if not self.live:
            elapsed = time.monotonic() - self.t0
            self.say(f"{self.cell}  (run elapsed {elapsed:.0f} s; "
                     f"{self.estimate.text(self.total is None)} after this cell)")
            return
        if not self.live.live.is_started:
            self.live.start()
        from rich.markup import escape  # a cell's label holds "[tuned]": text, not markup

        left = self.estimate.left_s()
        self.live.update(self.task, description=escape(cell.label()), epoch="",
                         left="" if left is None else f"~{_minutes(left)} left")

    def on_record(self, cell, record) -> None:
        self.estimate.finished(cell, record.get("cell_wall_s"))
        head = f"{self.cell}: " if self.live else "    "
        if record["status"] == "ok":
            steady = record.get("steady_epoch_s")
            self.say(f"{head}ok: test acc {record['test_accuracy']:.4f}"
                     + (f", steady epoch {steady:.3f} s" if steady else ""))
        else:
            self.say(f"{head}{record['status']}: {record.get('reason')}")
        if self.live:
            self.live.advance(self.task)

    def done(self) -> None:
        if self.live and self.live.live.is_started:
            self.live.stop()


def printer(console, total: int | None, estimate: Estimate | None = None):
    """(on_start, on_event, on_record, done) of a ``Printer``."""
    p = Printer(console, total, estimate)
    return p.on_start, p.on_event, p.on_record, p.done
