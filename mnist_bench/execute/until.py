"""``run --until-decided``: blocks until every comparison the tables make is decided, or the
budget is spent (docs/method.md, "Deciding").

Any executor runs the blocks (``run_block(cells)``: the local one, or the Ray driver), so
pairing by block holds as in a fixed run. The first ``stats.LOOKS[0]`` blocks run every cell.
Looks happen on schedule only: ``stats.LOOKS``, or the first of them that the budget reaches
(``choose_looks``: fixed at the final plan, before any look, from the cells' costs alone, and
kept in run.json). After each block of the schedule the records are judged
(``analysis.decisions``); the blocks until the next look run only the variants of comparisons
still open, so a decided pair is not measured again. A run that stops between looks (its
budget spent) keeps the verdicts of its last scheduled look; the blocks after it are kept and
shown, not judged (``stats.looked``). Where the run's state is saved (``save``: run.json), a
``--resume`` continues the look schedule and the budget where they were, never adding a look.

Every run counts. A block one of whose runs was disturbed from outside the cell (foreign load
on the machine, a worker halted: ``measure.disturbance.OUTSIDE``) is measured again whole, in
the same order, as its next ``attempt``; the earlier measurement stays in the store and in the
tables' counts, and the block's last measurement stands for it on both sides of every pair. A
backend's own slow epochs ("outlier epoch", "stopped") only warn. Before each block the time to
the next scheduled look (this block and those after it up to the look) is estimated from the
cells' earlier wall times, with ``SPARE`` to spare: a block that no look will judge decides
nothing, so the specs whose next look does not fit in what is left of the budget are left out
(the cheapest kept, said in one line), and when none fits the run stops there. No cell starts
once the budget is spent (a run outlives its budget by at most the cell in progress).

Planned to its budget: after its first ``PLAN_AFTER`` cells the run says what a block costs
here and how many blocks fit, provisionally (a spec not measured yet counts at the median cell
so far, so a dear spec later in the block is missed, and one early in it makes every spec look
dear: a provisional plan leaves nothing out); once every spec has a measured cell it plans
again, for good. When the first look (``stats.LOOKS[0]`` blocks) does not fit in the
budget (``SPARE`` included), it says so at once, with the budget that would, and spends the budget on the specs
whose first verdict fits (the cheapest first; a spec of one variant, the baseline, has none);
the specs left out are named, and their comparisons stay open with that reason.
"""

from __future__ import annotations

import math
import time
from dataclasses import replace

from .. import plan
from ..analysis import decisions, report, stats
from ..analysis.keys import attempt_of, block_of, flags_of
from ..measure.disturbance import outside
from ..identity import of_cell, of_record
from ..record import store
from .estimate import expected_s

MAX_ATTEMPTS = 2  # a block is measured again at most this many times
PLAN_AFTER = 3  # cells measured before the run plans itself to its budget
SPARE = 0.1  # added to a time estimate before it is trusted to fit in the budget
LATER = 0.5  # a block after the first look, as a share of a whole block (only the open
# comparisons' variants run then: 45-60% of a block on the published 30-minute runs)


def variant(cell) -> tuple:
    return of_cell(cell).variant


class UntilDecided:
    """Runs the blocks of ``rs`` (``rs.until_decided``) into the store at ``out``.

    ``load``: the records so far (default: the store at ``out``); ``save(looked, spent_s)``:
    keeps the look schedule's and the budget's state for a resume (default: run.json)."""

    def __init__(self, rs, out, run_block, say=print, now=time.monotonic, load=None, save=None):
        self.rs, self.out, self.run_block, self.say, self.now = rs, out, run_block, say, now
        self.load = load or self._load_store
        self.save = save or self._save_plan
        self.budget_s = (rs.budget_min or 0) * 60
        self.t0 = now() - (rs.spent_s or 0.0)  # a resumed run's budget goes on where it was
        self.comparisons: list = []
        self.looked = rs.looked or 0  # blocks seen by the last look (a resume keeps it)
        self.stopped_by = None
        self.kept: set | None = None  # the specs the budget can decide (None: all of them)
        self.left_out: dict = {}  # the specs no longer run, with why
        self.planned = None  # None, then "provisional" (PLAN_AFTER cells), then "final"
        self.replan = False
        self.looks = tuple(rs.looks) or stats.LOOKS  # the look schedule (planned: choose_looks)
        self.planned_looks = bool(rs.looks)  # a resumed run keeps the one it planned

    # -- what the store says -------------------------------------------------------------
    def _load_store(self) -> list[dict]:
        return store.load(self.out) if store.store_file(self.out).is_file() else []

    def _save_plan(self, looked: int, spent_s: float) -> None:
        plan.save_plan(self.out, replace(self.rs, looked=looked, spent_s=spent_s,
                                         looks=self.looks if self.planned_looks else ()))

    def checkpoint(self) -> None:
        self.save(self.looked, self.now() - self.t0)

    def spent(self) -> bool:
        return self.now() - self.t0 >= self.budget_s

    def stop(self) -> bool:
        """Asked before each cell: the budget is spent, or the run has just planned itself to
        its budget and the rest of the block is to be chosen again."""
        if self.spent():
            return True
        if self.plan_due():
            self.plan_to_budget()
            if self.replan:
                self.replan = False
                return True
        return False

    def specs_seen(self) -> tuple[set, set]:
        """(the specs the run still plans, those of them with a measured cell)."""
        specs = {c.spec for c in plan.block(self.rs, 0)}
        if self.kept is not None:
            specs &= self.kept
        return specs, {r["spec"] for r in self.mine() if r.get("cell_wall_s")} & specs

    def plan_due(self) -> bool:
        """A provisional plan after ``PLAN_AFTER`` measured cells; the final one once every
        spec still planned has a measured cell."""
        if self.planned == "final":
            return False
        if self.planned is None:
            return len([r for r in self.mine() if r.get("cell_wall_s")]) >= PLAN_AFTER
        specs, seen = self.specs_seen()
        return seen == specs

    def plan_to_budget(self) -> None:
        """Say what a block costs and how many fit; when the first look does not fit, keep the
        specs whose first verdict does (the cheapest first) and say which are left out."""
        specs, seen = self.specs_seen()
        final = seen == specs
        self.planned = "final" if final else "provisional"
        recs = self.mine()
        cells = [c for c in plan.block(self.rs, 0) if c.spec in specs]
        per_spec: dict = {}
        for c in cells:
            per_spec[c.spec] = per_spec.get(c.spec, 0.0) + (self.estimate_s([c], recs) or 0.0)
        first = stats.LOOKS[0]
        done = self.now() - self.t0
        self.say_plan(len(cells), sum(per_spec.values()), len(specs) - len(seen), len(specs))
        paid = {s: sum(r["cell_wall_s"] for r in recs if r.get("spec") == s and r.get("cell_wall_s"))
                for s in per_spec}  # what this run has already spent on each spec
        need_s = sum(first * per_spec[s] - paid[s] for s in per_spec)
        if done + need_s * (1 + SPARE) <= self.budget_s:
            if final:
                self.choose_looks(sum(per_spec.values()), need_s, done)
            return
        if not final:  # the specs not measured yet are guesses: none is left out on them
            self.say(f"plan (provisional): at this estimate the first verdict would not fit in "
                     f"{self.budget_s / 60:g} minutes; what the budget is spent on is chosen once "
                     "every spec has a measured cell")
            return
        variants = {s: sum(c.spec == s for c in cells) for s in per_spec}
        keep, total = [], 0.0
        for spec, cost in sorted(per_spec.items(), key=lambda kv: kv[1]):
            if variants[spec] < 2:  # one variant (the baseline): nothing of it to decide
                continue
            if done + (total + first * cost - paid[spec]) * (1 + SPARE) <= self.budget_s:
                keep.append(spec)
                total += first * cost - paid[spec]
        left = [s for s in per_spec if s not in keep]
        need = math.ceil((done + need_s * (1 + SPARE)) / 60)
        self.say(f"plan: the first verdict cannot be reached in {self.budget_s / 60:g} minutes "
                 f"(about {need} needed: --budget {need}, or fewer specs with -k)"
                 + (f"; spending it on {', '.join(keep)} (about {total / 60:.1f} more minutes "
                    f"for their {first} blocks); left out: {', '.join(left)}" if keep else
                    "; no spec's first verdict fits: stopping"))
        if keep:
            self.choose_looks(sum(per_spec[s] for s in keep), total, done)
        self.leave_out([s for s in left if variants[s] < 2],
                       "left out at the start: one variant, nothing of it to decide")
        self.leave_out(left, "left out at the start: the budget could not reach its first verdict")
        self.replan = True

    def choose_looks(self, block_s: float, first_s: float, done: float) -> None:
        """The look schedule, chosen once (the final plan, before any look) from the cells'
        costs alone: the first look and each later one of ``stats.LOOKS`` that fits in the
        budget (``SPARE`` included) after ``first_s`` more seconds to the first look, a block
        after it counted at ``LATER`` of ``block_s``. ALPHA is split over these looks only, so a
        budget that reaches fewer looks judges at a lower level (Bonferroni over fewer)."""
        if self.planned_looks or self.looked:  # chosen once, and never after a look
            return
        width = len(self.rs.nodes) if self.rs.spread and self.rs.nodes else 1
        first, looks = stats.LOOKS[0], [stats.LOOKS[0]]
        for k in stats.LOOKS[1:]:
            later = math.ceil((k - first) / width) * LATER * block_s
            if done + (first_s + later) * (1 + SPARE) > self.budget_s:
                break
            looks.append(k)
        self.looks, self.planned_looks = tuple(looks), True
        self.checkpoint()
        level = stats.decision_confidence(1, self.looks)
        self.say(f"plan: looks after block{'s' if len(looks) > 1 else ''} "
                 f"{', '.join(map(str, looks))}"
                 + (f" (no later look fits in the {self.budget_s / 60:g}-minute budget at this "
                    "estimate)" if self.looks != stats.LOOKS else "")
                 + f"; each look's intervals at {100 * level:.4g}% ({100 * (1 - stats.ALPHA):g}% "
                 f"over {len(looks)} look{'s' if len(looks) > 1 else ''}, Bonferroni)")

    def say_plan(self, cells: int, block_s: float, unseen: int, specs: int) -> None:
        """The plan's first line: what a block costs here and how many fit."""
        left = max(0.0, self.budget_s - (self.now() - self.t0))
        n = min(int(left // block_s) if block_s else stats.LOOKS[-1], stats.LOOKS[-1])
        measured = len([r for r in self.mine() if r.get("cell_wall_s")])
        how = ("every spec measured" if not unseen else
               f"provisional, from {measured} cells: {unseen} of {specs} specs not measured yet "
               "count at the median cell so far")
        first = stats.LOOKS[0]
        self.say(f"plan ({how}): a block of {cells} cells takes about {block_s / 60:.1f} minutes here; "
                 f"{n} more block{' fits' if n == 1 else 's fit'} in the {left / 60:.1f} minutes left of "
                 f"the {self.budget_s / 60:g}-minute budget; the first verdict needs {first} blocks "
                 f"(about {first * block_s / 60:.1f} minutes)")

    def mine(self) -> list[dict]:
        return [r for r in self.load() if r.get("run_id") == self.rs.run_id]

    def estimate_s(self, cells, recs) -> float | None:
        """The cells' expected seconds from this run's earlier wall times
        (``estimate.expected_s``); None before any cell has run."""
        return expected_s([of_cell(c) for c in cells],
                          [(of_record(r), r.get("cell_wall_s")) for r in recs])

    def judge(self) -> list:
        """Every comparison of this run on the records so far (each at its last scheduled
        look: ``stats.paired_ratio``)."""
        recs = self.load()
        for r in recs:  # the run's own look schedule judges it
            if r.get("run_id") == self.rs.run_id and self.planned_looks:
                r["_looks"] = list(self.looks)
        tables = report.judge(recs, margin=self.rs.margin)  # not a whole report
        return [c for c in decisions.comparisons(tables)
                if str(c.run).split(" @ ")[0] == self.rs.run_id]

    def look(self, blocks: int) -> set | None:
        """Judge every comparison after ``blocks`` blocks; the variants still open."""
        self.comparisons = self.judge()
        self.looked = blocks
        self.checkpoint()
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
        recs = self.mine()
        done = store.complete_keys(recs, self.rs.run_id) if recs else set()
        open_ = None  # None: every variant (before the first look)
        if self.looked:  # a resume: the variants its last look left open
            self.comparisons = self.judge()
            open_ = decisions.open_variants(self.comparisons)
            if not open_:
                self.stopped_by = "decided"
                return
        block = 0
        while block < self.looks[-1]:
            if block in self.looks and self.looked < block:
                open_ = self.look(block)
                if not open_:
                    self.stopped_by = "decided"
                    return
                if self.kept is not None and not any(v[0] in self.kept for v in open_):
                    self.stopped_by = "left out"  # what is open, the budget has left out
                    return
            wave = self.wave(block)
            blocks = {b: self.cells_of(b, open_, recs) for b in wave}
            blocks = {b: cells for b, cells in blocks.items() if any(c.key() not in done for c in cells)}
            block = wave.stop
            if not blocks:
                continue
            self.stopped_by = self.run_one(blocks, [c for cells in blocks.values() for c in cells
                                                    if c.key() not in done])
            if self.stopped_by:
                break
        else:
            self.stopped_by = "blocks"
        self.finish()

    def wave(self, block: int) -> range:
        """The blocks run at once from ``block``: one, or with ``--spread-blocks`` one per node
        sharing them, never past the next scheduled look."""
        width = len(self.rs.nodes) if self.rs.spread and self.rs.nodes else 1
        look = min([k for k in self.looks if k > block] or [self.looks[-1]])
        return range(block, min(block + width, look))

    def cells_of(self, block: int, open_, recs) -> list:
        """Block ``block``'s cells that still count: of the open variants (all before the
        first look), of the specs kept by the budget, as its latest attempt."""
        cells = plan.block(self.rs, block)
        if open_ is not None:
            cells = [c for c in cells if variant(c) in open_]
        if self.kept is not None:
            cells = [c for c in cells if c.spec in self.kept]
        attempt = max((attempt_of(r) for r in recs if block_of(r) == block), default=0)
        return [replace(c, attempt=attempt) for c in cells]

    def fit_to_look(self, blocks: dict, todo: list):
        """``(blocks, todo)`` kept to the specs whose next scheduled look fits in the budget
        left, with ``SPARE`` to spare: this wave and the blocks after it up to the look (a block
        that no look will judge decides nothing). The cheapest specs first; before the first
        look a spec of one variant (nothing to decide) only runs beside the others. None when
        no spec's next look fits: the run stops and says so."""
        first = min(blocks)
        look = min(k for k in self.looks if k > first)
        width = len(self.rs.nodes) if self.rs.spread and self.rs.nodes else 1
        waves = math.ceil((look - first) / width)  # this one and those up to the look
        took = [(of_record(r), r.get("cell_wall_s")) for r in self.mine()]
        cost = {}
        for spec in dict.fromkeys(c.spec for c in todo):
            now = [expected_s([of_cell(c) for c in todo if c.spec == spec and c.repeat == b], took)
                   for b in blocks]
            later = expected_s([of_cell(c) for c in blocks[first] if c.spec == spec], took)
            if None in now or later is None:
                return blocks, todo  # nothing measured yet to estimate from
            cost[spec] = max(now) + (waves - 1) * later
        left = self.budget_s - (self.now() - self.t0)
        if sum(cost.values()) * (1 + SPARE) <= left:
            return blocks, todo
        keep, total = [], 0.0
        for spec, s in sorted(cost.items(), key=lambda kv: kv[1]):
            if first >= stats.LOOKS[0] or sum(c.spec == spec for c in blocks[first]) > 1:
                if (total + s) * (1 + SPARE) <= left:
                    keep.append(spec)
                    total += s
        names = ", ".join(str(b + 1) for b in blocks)
        said = (f"budget: the look after block {look} needs about {sum(cost.values()):.0f} s "
                f"more and {max(left, 0):.0f} s of the {self.budget_s / 60:g} minutes are left")
        if not keep:
            self.say(f"{said}; no open spec's next look fits: no more blocks")
            return None
        dropped = [spec for spec in cost if spec not in keep]
        self.say(f"{said}; block{'s' if len(blocks) > 1 else ''} {names} on: {', '.join(keep)} "
                 f"(about {total:.0f} s to that look); left out: {', '.join(dropped)}")
        why = (f"left out at block {first + 1}: the budget could not reach its first verdict"
               if first < stats.LOOKS[0] else
               f"left out at block {first + 1}: its next look (after block {look}) did not fit "
               "in the budget left")
        self.leave_out(dropped, why)
        return ({b: [c for c in cells if c.spec in keep] for b, cells in blocks.items()},
                [c for c in todo if c.spec in keep])

    def leave_out(self, specs, why: str) -> None:
        """Run no more cells of ``specs``; the end names them with ``why``."""
        for spec in specs:
            self.left_out.setdefault(spec, why)
        every = {c.spec for c in plan.block(self.rs, 0)}
        self.kept = (every if self.kept is None else self.kept) - set(specs)

    def run_one(self, blocks: dict, todo: list) -> str | None:
        """Run ``todo`` of ``blocks`` ({block: its cells}, run at once: one per node with
        ``--spread-blocks``) if the budget allows, trimmed to the specs whose next look it
        reaches (``fit_to_look``); "budget" or "out of reach" when it stops the run."""
        if self.plan_due():  # the plan first, where it is due between blocks
            self.plan_to_budget()
            self.replan = False
            if self.kept is not None:
                blocks = {b: [c for c in cells if c.spec in self.kept] for b, cells in blocks.items()}
                todo = [c for c in todo if c.spec in self.kept]
                if not todo:
                    return "budget"
        fitted = self.fit_to_look(blocks, todo)
        if fitted is None:
            return "budget" if self.spent() else "out of reach"
        blocks, todo = fitted
        mine = self.mine()
        ests = [self.estimate_s([c for c in todo if c.repeat == b], mine) for b in blocks]
        est = None if None in ests else max(ests)  # side by side, each on a node of its own
        left = self.budget_s - (self.now() - self.t0)
        names = ", ".join(str(b + 1) for b in blocks)
        many = "s" if len(blocks) > 1 else ""
        self.say(f"block{many} {names}: {len(todo)} cells"
                 + (" on as many nodes" if many else "")
                 + (f" (about {est:.0f} s; {left:.0f} s of the budget left)" if est else ""))
        self.run_block(todo, stop=self.stop)
        if self.kept is not None and not self.spent():  # planned mid-block: the rest of it
            done = {store.cell_of(r).key() for r in self.mine()}
            rest = [c for c in todo if c.spec in self.kept and c.key() not in done]
            if rest:
                self.run_block(rest, stop=self.stop)
        if not self.kept and self.kept is not None:
            return "budget"
        measured = {store.cell_of(r).key() for r in self.mine()}
        if self.spent() and any(c.key() not in measured for cells in blocks.values() for c in cells
                                if self.kept is None or c.spec in self.kept):
            self.say(f"budget: spent during block{many} {names}; the measured cells are kept")
            return "budget"
        for block, cells in blocks.items():
            self.remeasure_disturbed(block, cells)
        self.checkpoint()
        return None

    def finish(self) -> None:
        """The verdicts the run ends with: a look the last block completed, else those of the
        last scheduled look (the blocks after it shown, not judged)."""
        blocks = len({block_of(r) for r in self.mine()})
        if blocks in self.looks and self.looked < blocks:
            self.look(blocks)  # the last block run completed a scheduled look
        elif self.looked:
            self.comparisons = self.judge()  # the verdicts of the last scheduled look
            if blocks > self.looked:
                self.say(f"blocks {self.looked + 1}-{blocks} are kept and shown; the verdicts are "
                         f"those of the look after block {stats.looked(blocks, self.looks)}")
        else:
            self.comparisons = self.judge()  # before the first look: no verdict yet

    def remeasure_disturbed(self, block: int, cells) -> None:
        """Measure block ``block`` again, whole and in the same order, while one of its runs
        was disturbed from outside (``measure.disturbance.OUTSIDE``), at most ``MAX_ATTEMPTS``
        times and while it fits in the budget; every earlier record stays."""
        while True:
            attempt = cells[0].attempt if cells else 0
            mine = {store.cell_of(r).key(): r for r in self.mine() if block_of(r) == block}
            hit = [(c, outside(flags_of(mine[c.key()]))) for c in cells if c.key() in mine]
            hit = [(c, why) for c, why in hit if why]
            if not hit or attempt >= MAX_ATTEMPTS:
                return
            cells = [replace(c, attempt=attempt + 1) for c in cells]
            est = self.estimate_s(cells, self.mine()) or 0
            if est > self.budget_s - (self.now() - self.t0):
                self.say(f"block {block + 1}: {len(hit)} run(s) disturbed from outside; no budget "
                         "left to measure the block again (the runs count as they are)")
                return
            self.say(f"measuring block {block + 1} again ({len(cells)} cells, in the same order): "
                     + ", ".join(f"{c.label()} ({', '.join(why)})" for c, why in hit))
            self.run_block(cells, stop=self.spent)

    def summary(self) -> list[str]:
        """The end of the run in words: how it stopped, and why each comparison is still open."""
        still = [c for c in self.comparisons if not c.ratio.decided]
        left_s = max(0.0, self.budget_s - (self.now() - self.t0))
        why = {"decided": "every comparison is decided", "budget": "the budget is spent",
               "out of reach": f"no open comparison's next look fits in the {left_s / 60:.1f} "
                               "minutes of budget left",
               "left out": "every comparison still open is of a spec the budget left out",
               "blocks": f"the {self.looks[-1]} blocks of the look schedule are run"
                         + (" (no later look fitted in the budget)" if self.looks != stats.LOOKS
                            else ""),
               None: "nothing left to run"}[self.stopped_by]
        lines = [f"until decided: stopped because {why} after {(self.now() - self.t0) / 60:.1f} "
                 f"minutes; {len(self.comparisons) - len(still)} of {len(self.comparisons)} "
                 "comparisons decided"]
        for c in still:
            dropped = self.left_out.get(c.a[0])
            measured = f"{c.ratio.ratio or 0:.2f}x, undecided, {_more(c.ratio)}"
            lines.append(f"  open: {_pair(c)}: " + (
                dropped if dropped and c.ratio.verdict == stats.FEW else  # no interval yet
                f"{measured}; {dropped}" if dropped else measured))
        by_why: dict = {}
        for spec, reason in self.left_out.items():
            by_why.setdefault(reason, []).append(spec)
        lines += [f"  {reason}: {', '.join(specs)}" for reason, specs in by_why.items()]
        return lines


def _more(r: stats.Ratio) -> str:
    from ..render.cells import needs

    return needs(r.more, few=r.verdict == stats.FEW)


def _pair(c) -> str:
    """A comparison in words with its two variants: "... mlp_512 steady epoch, tensorflow/jax"."""
    return f"{c.label}, {decisions.variant_label(c.a)}/{decisions.variant_label(c.b)}"
