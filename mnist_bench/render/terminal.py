"""The report on a terminal: the decision first, fitted to the terminal's width (rich), and
where the rest is. The full tables stay in the files and in ``--format md``."""

from __future__ import annotations

from ..render import cells as fmt
from .derived import decision_text, picks_differ

QUESTION = {"short": "short", "long": "long"}


def print_report(rep, console, names: dict, others: list[str]) -> None:
    """The "Which backend" decision, one table per run, dataset, device, mode and
    implementation (a heading line names them), then one line on where the other tables are."""
    from rich import box
    from rich.table import Table

    rec = rep.recommend
    if not len(rec):
        console.print("No decision to show: no spec has two backends measured (the tables: "
                      "--format md).")
    else:
        decided = sum(r.decision in ("pick", "equivalent") for r in rec.itertuples())
        console.print(f"[bold]Which backend[/bold] (verdicts against a ±{100 * rep.margin:g}% "
                      f"margin): {decided} of {len(rec)} picks decided. A short training is judged "
                      "by the time to the target accuracy, a long one by the steady epoch; a pick "
                      "in parentheses is undecided.")
        keys = ["run", "dataset", "device_kind", "mode", "impl"]
        for (run, dataset, device, mode, impl), g in rec.groupby(keys, sort=False):
            where = f"{dataset}, {device}, {mode} mode" + (" (native)" if impl != "keras" else "")
            if len(names) > 1:
                where += f", run {names.get(run, run)}"
            table = Table(title=where, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
            for name, kw in (("spec", {"overflow": "fold"}), ("question", {}),
                             ("pick", {"no_wrap": True}), ("figure", {"justify": "right", "no_wrap": True}),
                             ("verdict", {"overflow": "fold", "ratio": 1})):
                table.add_column(name, **kw)
            for r in g.itertuples():
                pick, why = decision_text(r)
                table.add_row(r.label, QUESTION[r.question], pick,
                              "" if fmt.missing(r.value_s) else f"{r.value_s:.3g} s", why)
            console.print(table)
        for line in picks_differ(rec):
            console.print(f"Different picks: {line}")
    if others:
        console.print("Also in the tables (--format md, or --out FOLDER for tables.md and "
                      "report.html): " + "; ".join(others) + ".")


def print_compare(df, replication: dict | None, margin: float, console) -> None:
    """``compare`` on a terminal: one row per cell (what it is, runs, NEW/OLD with its interval,
    the verdict), fitted to the width; then how the verdicts replicate, and those that differ."""
    from rich import box
    from rich.table import Table

    from ..analysis.decisions import variant_label
    from .compare_md import bare, verdict, words

    table = Table(title="NEW against OLD, per cell (NEW/OLD: over 1 is slower)", title_justify="left",
                  box=box.SIMPLE_HEAD, pad_edge=False)
    for name, kw in (("cell", {"overflow": "fold"}), ("runs", {"no_wrap": True}),
                     ("steady epoch", {"overflow": "fold"}), ("to target", {"overflow": "fold"}),
                     ("verdict", {"overflow": "fold"})):
        table.add_column(name, **kw)
    for r in df.to_dict("records"):
        what = f"{r['spec']} {variant_label((r['spec'], r['mode'], r['impl'], r['backend']))}"
        if r.get("batch_size"):
            what += f" bs{r['batch_size']}"
        runs = "" if fmt.missing(r.get("old_runs")) else f"{int(r['old_runs'])}/{int(r['new_runs'])}"
        table.add_row(what, runs, fmt.ratio(r.get("ratio")), bare(r.get("tta_ratio")), verdict(r))
    console.print(table)
    if replication is None:
        return
    console.print(f"Verdicts replicated (±{100 * margin:g}% margin): {len(replication['pairs'])} "
                  f"comparisons on both sides: {replication['same']} the same decision, "
                  f"{replication['flipped']} decided differently, {replication['one side']} decided "
                  f"on one side only, {replication['neither']} undecided on both.")
    differ = [(key, a, b) for key, a, b in replication["pairs"] if a != b]
    if differ:
        pairs = Table(box=box.SIMPLE_HEAD, pad_edge=False)
        for name in ("comparison", "old", "new"):
            pairs.add_column(name, overflow="fold")
        for key, a, b in differ:
            pairs.add_row(f"{key[1]}: {' vs '.join(variant_label(v) for v in key[2:])}",
                          words(a, key[2]), words(b, key[2]))
        console.print(pairs)
