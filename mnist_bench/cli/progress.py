"""Progress of a run: a live display on a terminal, plain lines in a log."""

from __future__ import annotations

import time


def printer(console, total: int | None):
    """Progress callbacks: a live display (cell, epoch, elapsed, estimated time left for the
    whole run) on a terminal, plain lines otherwise (CI logs, files). ``total`` None: not known
    in advance (``--until-decided``)."""
    state = {"n": 0, "t0": time.monotonic(), "cell": ""}
    live = None
    if console.is_terminal:
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                                   TimeElapsedColumn, TimeRemainingColumn)

        from rich.table import Column

        live = Progress(TextColumn("{task.description}", table_column=Column(
                            max_width=44, no_wrap=True, overflow="ellipsis")),
                        BarColumn(bar_width=10), MofNCompleteColumn(), TextColumn("cells"),
                        TimeElapsedColumn(), TextColumn("left"), TimeRemainingColumn(),
                        TextColumn("{task.fields[epoch]}"), console=console)
        task = live.add_task("starting", total=total, epoch="")

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
        state["n"] += 1
        state["cell"] = f"[{state['n']}{'' if total is None else f'/{total}'}] {cell.label()}"
        if live:
            if not live.live.is_started:
                live.start()
            from rich.markup import escape  # a cell's label holds "[tuned]": text, not markup

            live.update(task, description=escape(state["cell"]), epoch="")
        else:
            elapsed = time.monotonic() - state["t0"]
            say(f"{state['cell']}  (run elapsed {elapsed:.0f} s)")

    def on_record(cell, record):
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
