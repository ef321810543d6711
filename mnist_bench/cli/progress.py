"""Progress of a run: a live display on a terminal, plain lines in a log."""

from __future__ import annotations

import time


class Estimate:
    """Time left for the cells still to run, from the cells already run: each cell is expected
    to take what the same cell (spec, backend, mode, implementation, batch size) took, else what that spec
    took on the other backends, else the mean of all cells so far; refined as each finishes."""

    def __init__(self):
        self.pending, self.took = [], []  # [(cell, seconds)]

    def expect(self, cells) -> None:
        self.pending = list(cells)

    def started(self, cell) -> None:
        key = cell.key()[:-1]  # a Ray node's copy of a cell names its node
        for i, c in enumerate(self.pending):
            if c.key()[:-1] == key:
                del self.pending[i]
                return

    def finished(self, cell, seconds) -> None:
        if seconds and seconds > 0:
            self.took.append((cell, seconds))

    def _one(self, cell) -> float | None:
        for same in ((lambda c: (c.spec, c.backend, c.mode, c.impl, c.planned_batch_size) ==
                      (cell.spec, cell.backend, cell.mode, cell.impl, cell.planned_batch_size)),
                     (lambda c: (c.spec, c.mode, c.impl) == (cell.spec, cell.mode, cell.impl)),
                     (lambda c: True)):
            times = [t for c, t in self.took if same(c)]
            if times:
                return sum(times) / len(times)
        return None

    def left_s(self) -> float | None:
        """Seconds the pending cells will likely take; None before any cell finished."""
        times = [self._one(c) for c in self.pending]
        return None if any(t is None for t in times) else sum(times)

    def text(self, block: bool) -> str:
        left = self.left_s()
        if left is None:
            return "time left: estimating"
        where = " in this block" if block else ""
        return f"about {_minutes(left)} left{where}"


def _minutes(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min"


def printer(console, total: int | None, estimate: Estimate | None = None):
    """Progress callbacks: a live display (cell, epoch, elapsed, estimated time left) on a
    terminal, plain lines otherwise (CI logs, files). ``total`` None: not known in advance
    (``--until-decided``: the estimate is for the block being run). ``estimate`` holds the
    cells still to run (``Estimate.expect``)."""
    state = {"n": 0, "t0": time.monotonic(), "cell": ""}
    estimate = estimate or Estimate()
    live = None
    if console.is_terminal:
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                                   TimeElapsedColumn)

        from rich.table import Column

        live = Progress(TextColumn("{task.description}", table_column=Column(
                            max_width=44, no_wrap=True, overflow="ellipsis")),
                        BarColumn(bar_width=10), MofNCompleteColumn(), TextColumn("cells"),
                        TimeElapsedColumn(), TextColumn("{task.fields[left]}"),
                        TextColumn("{task.fields[epoch]}"), console=console)
        task = live.add_task("starting", total=total, epoch="", left="")

    def say(text):
        (live.console if live else console).print(text, highlight=False, markup=False)

    def on_event(cell, event):
        if event.get("event") == "epoch":
            acc = event.get("accuracy")
            line = (f"epoch {event['epoch']}/{event['epochs']}  {event['seconds']:.2f} s"
                    + (f"  acc {acc:.4f}" if acc is not None else ""))
            if live:
                live.update(task, epoch=line)
            else:
                say(f"    {line}")

    def on_start(cell):
        estimate.started(cell)
        state["n"] += 1
        state["cell"] = f"[{state['n']}{'' if total is None else f'/{total}'}] {cell.label()}"
        if live:
            if not live.live.is_started:
                live.start()
            from rich.markup import escape  # a cell's label holds "[tuned]": text, not markup

            live.update(task, description=escape(state["cell"]), epoch="",
                        left=estimate.text(total is None))
        else:
            elapsed = time.monotonic() - state["t0"]
            say(f"{state['cell']}  (run elapsed {elapsed:.0f} s; {estimate.text(total is None)} "
                "after this cell)")

    def on_record(cell, record):
        estimate.finished(cell, record.get("cell_wall_s"))
        head = f"{state['cell']}: " if live else "    "
        if record["status"] == "ok":
            steady = record.get("steady_epoch_s")
            say(f"{head}ok: test acc {record['test_accuracy']:.4f}"
                + (f", steady epoch {steady:.3f} s" if steady else ""))
        else:
            say(f"{head}{record['status']}: {record.get('reason')}")
        if live:
            live.advance(task)

    def done():
        if live and live.live.is_started:
            live.stop()

    return on_start, on_event, on_record, done
