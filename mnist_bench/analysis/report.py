"""Every table a report shows, computed once from the records (``build``); render/ turns one
``Report`` into Markdown, CSV, JSON, HTML and the terminal summary."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from . import batches, machines, reproduction, stats, views
from .machines import SideBySide
from .tidy import tidy


@dataclass
class Report:
    recs: list  # the records, as loaded
    tidy: pd.DataFrame  # one row per cell group (tidy.tidy)
    modes: pd.DataFrame
    native: pd.DataFrame  # each framework at its best (views.native_table)
    matched: pd.DataFrame  # what Keras costs at a matched strategy (views.matched_table)
    fastest: pd.DataFrame
    machines: SideBySide
    devices: pd.DataFrame
    recommend: pd.DataFrame
    drift: pd.DataFrame
    reproduction: pd.DataFrame
    versions_differ: dict
    margin: float = stats.MARGIN  # δ of every verdict (stats.verdict)
    # throughput against batch size (analysis.batches), empty unless a run used --batch-sizes
    batches: pd.DataFrame = None
    knees: pd.DataFrame = None
    ranking: pd.DataFrame = None


@dataclass
class Verdicts:
    """The tables every verdict of a run comes from (``decisions.comparisons`` reads these):
    what ``--until-decided`` judges at each look, without the rest of a report."""

    recommend: pd.DataFrame
    modes: pd.DataFrame
    native: pd.DataFrame
    matched: pd.DataFrame


def verdicts(t: pd.DataFrame, margin: float = stats.MARGIN) -> Verdicts:
    """The verdict tables of the tidy table ``t``."""
    return Verdicts(recommend=views.recommend(t, margin), modes=views.mode_table(t, margin),
                    native=views.native_table(t, margin), matched=views.matched_table(t, margin))


def judge(recs: list[dict], margin: float = stats.MARGIN) -> Verdicts:
    """The verdict tables of ``recs``, and nothing else of a report."""
    return verdicts(tidy(recs, None, margin), margin)


def build(recs: list[dict], targets: dict | None = None, margin: float = stats.MARGIN) -> Report:
    t = tidy(recs, targets, margin)
    curves = (batches.curve_table(tidy(recs, targets, margin, by_batch=True))
              if any(r.get("planned_batch_size") is not None for r in recs) else pd.DataFrame())
    v = verdicts(t, margin)
    return Report(batches=curves, knees=batches.knee_table(curves),
                  ranking=batches.ranking_table(curves), recs=recs, tidy=t, modes=v.modes,
                  native=v.native, matched=v.matched,
                  fastest=views.fastest_table(t, margin),
                  machines=machines.machines_table(t, margin), devices=machines.device_table(t),
                  recommend=v.recommend, drift=machines.drift_table(recs),
                  reproduction=reproduction.table(recs),
                  versions_differ=machines.versions_differ(recs), margin=margin)
