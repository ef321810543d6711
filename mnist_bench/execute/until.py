"""``run --until-decided``: blocks until every comparison the tables make is decided, or the
budget is spent (docs/method.md, "Deciding").

Any executor runs the blocks (``run_block(cells)``: the local one, or the Ray driver), so
pairing by block holds as in a fixed run. The first ``stats.LOOKS[0]`` blocks run every cell.
After each block in ``stats.LOOKS`` the report is built from the store and its comparisons
(``analysis.decisions``) are judged; the blocks until the next look run only the variants of
comparisons still open, so a decided pair is not measured again. A cell whose run is flagged
as disturbed (``measure.disturbance``) is run once more in its block rather than used. Before
each block, its time is estimated from the cells' earlier wall times; a block that would not
fit in what is left of the budget is not started.
"""

from __future__ import annotations

import statistics
import time
from .. import plan
from ..analysis import decisions, report, stats
from ..analysis.keys import flags_of
from ..record import store


def variant(cell) -> tuple:
    return (cell.spec, cell.mode, cell.impl, cell.backend)


class UntilDecided:
    """Runs the blocks of ``rs`` (``rs.until_decided``) into the store at ``out``."""

    def __init__(self, rs, out, run_block, say=print, now=time.monotonic):
        self.rs, self.out, self.run_block, self.say, self.now = rs, out, run_block, say, now
        self.budget_s = (rs.budget_min or 0) * 60
        self.t0 = now()
        self.comparisons: list = []
        self.looked = 0  # blocks seen by the last look
        self.stopped_by = None

    # -- what the store says -------------------------------------------------------------
    def mine(self) -> list[dict]:
        if not store.store_file(self.out).is_file():
            return []
        return [r for r in store.load(self.out) if r.get("run_id") == self.rs.run_id]

    def estimate_s(self, cells, recs) -> float | None:
        """The cells' expected seconds from this run's earlier wall times (per variant, else
        the median of all); None before any cell has run."""
        walls: dict = {}
        for r in recs:
            w = r.get("cell_wall_s")
            if w:
                walls.setdefault((r["spec"], r.get("mode") or "default", r.get("impl") or "keras",
                                  r["backend"]), []).append(w)
        if not walls:
            return None
        every = statistics.median(w for ws in walls.values() for w in ws)
        return sum(statistics.median(walls.get(variant(c), [every])) for c in cells)

    def look(self, blocks: int) -> set | None:
        """Judge every comparison on the records so far; the variants still open."""
        rep = report.build(store.load(self.out), margin=self.rs.margin)
        self.comparisons = [c for c in decisions.comparisons(rep)
                            if str(c.run).split(" @ ")[0] == self.rs.run_id]
        self.looked = blocks
        still = [c for c in self.comparisons if not c.ratio.decided]
        open_ = decisions.open_variants(self.comparisons)
        mores = [c.ratio.more for c in still]
        per_block = self.estimate_s([c for c in plan.block(self.rs, 0)
                                     if variant(c) in open_], self.mine())
        self.say(f"look after block {blocks}: {len(self.comparisons) - len(still)} of "
                 f"{len(self.comparisons)} comparisons decided"
                 + ("; open: " + "; ".join(f"{_pair(c)} ({c.ratio.ratio or 0:.2f}x, "
                                            f"{_more(c.ratio)})" for c in still[:6])
                    + (f"; and {len(still) - 6} more" if len(still) > 6 else "") if still else ""))
        if still and per_block and None not in mores:
            self.say(f"  closing them needs about {max(mores)} more blocks, about "
                     f"{max(mores) * per_block / 60:.1f} minutes")
        return open_

    # -- the loop ------------------------------------------------------------------------
    def run(self) -> None:
        done = store.complete_keys(self.mine(), self.rs.run_id) if self.mine() else set()
        open_ = None  # None: every variant (before the first look)
        last = stats.LOOKS[-1]
        for block in range(last):
            if block >= stats.LOOKS[0] and block in stats.LOOKS and self.looked < block:
                open_ = self.look(block)
                if not open_:
                    self.stopped_by = "decided"
                    return
            cells = plan.block(self.rs, block)
            if open_ is not None:
                cells = [c for c in cells if variant(c) in open_]
            cells = [c for c in cells if c.key() not in done]
            if not cells:
                continue
            est = self.estimate_s(cells, self.mine())
            left = self.budget_s - (self.now() - self.t0)
            if est is not None and est > left:
                self.say(f"budget: block {block + 1} would take about {est:.0f} s and "
                         f"{max(left, 0):.0f} s of the {self.budget_s / 60:g} minutes are left; "
                         "no more blocks")
                self.stopped_by = "budget"
                break
            self.say(f"block {block + 1}: {len(cells)} cells"
                     + (f" (about {est:.0f} s; {left:.0f} s of the budget left)" if est else ""))
            self.run_block(cells)
            self.remeasure_flagged(cells)
        else:
            self.stopped_by = "blocks"
        blocks = len({r.get("block", r.get("repeat")) for r in self.mine()})
        if self.looked < blocks:
            self.look(blocks)

    def remeasure_flagged(self, cells) -> None:
        """Run once more every cell of this block whose run was flagged as disturbed, when
        its second try fits in the budget."""
        latest = {store.cell_of(r).key(): r for r in self.mine()}
        again = [c for c in cells if c.key() in latest and flags_of(latest[c.key()])]
        if not again:
            return
        est = self.estimate_s(again, self.mine()) or 0
        if est > self.budget_s - (self.now() - self.t0):
            return
        self.say(f"measuring again {len(again)} cell(s) flagged as disturbed: "
                 + ", ".join(f"{c.label()} ({', '.join(flags_of(latest[c.key()]))})" for c in again))
        self.run_block(again)

    def summary(self) -> list[str]:
        """The end of the run in words: how it stopped, and each comparison still open."""
        still = [c for c in self.comparisons if not c.ratio.decided]
        why = {"decided": "every comparison is decided", "budget": "the budget is spent",
               "blocks": f"the {stats.LOOKS[-1]} blocks of the look schedule are run",
               None: "nothing left to run"}[self.stopped_by]
        lines = [f"until decided: stopped because {why} after {(self.now() - self.t0) / 60:.1f} "
                 f"minutes; {len(self.comparisons) - len(still)} of {len(self.comparisons)} "
                 "comparisons decided"]
        lines += [f"  open: {_pair(c)}: {c.ratio.ratio or 0:.2f}x, undecided, {_more(c.ratio)}"
                  for c in still]
        return lines


def _more(r: stats.Ratio) -> str:
    if r.verdict == stats.FEW:
        return f"needs at least {r.more} more block{'s' if r.more != 1 else ''}"
    if r.more is None:
        return "needs many more blocks"
    return f"needs about {r.more} more block{'s' if r.more != 1 else ''}"


def _pair(c) -> str:
    """A comparison in words with its two variants: "... mlp_512 steady epoch, tensorflow/jax"."""
    return f"{c.label}, {decisions.variant_label(c.a)}/{decisions.variant_label(c.b)}"
