"""Three verdicts, the sequential rule of --until-decided (by simulation, no training), the
adaptive loop over a stand-in executor, and the replication count of compare."""

from __future__ import annotations

import math
import statistics
from dataclasses import replace

import pytest

from mnist_bench import plan, settings
from mnist_bench.analysis import decisions, report, stats, views
from mnist_bench.execute.until import UntilDecided
from mnist_bench.record import assemble, store
from mnist_bench.render import derived

from .conftest import run_cli


@pytest.mark.parametrize("low, high, verdict", [
    (1.06, 1.20, "higher"),  # wholly beyond 1 + 5%
    (1.02, 1.12, "undecided"),  # above 1, but not beyond the margin
    (0.97, 1.04, "equivalent"),  # wholly inside [1/1.05, 1.05]
    (0.90, 1.03, "undecided"),  # holds 1: no evidence either way
    (0.70, 0.90, "lower"),
])
def test_three_verdicts_against_the_margin(low, high, verdict):
    assert stats.verdict(low, high, 0.05) == verdict


def test_a_wider_margin_turns_a_small_difference_into_equivalence():
    assert stats.verdict(1.02, 1.08, 0.05) == "undecided"
    assert stats.verdict(1.02, 1.08, 0.10) == "equivalent"


def test_blocks_needed_shrinks_the_interval_to_the_margin():
    # log ratio 0.20 with sd 0.10 after 3 blocks: the half-width must fall under 0.20 - log 1.05
    more = stats.blocks_needed(0.20, 0.10, 3)
    from scipy.stats import t

    n = 3 + more
    half = lambda k: t.ppf(0.5 + stats.DECISION_CONFIDENCE / 2, k - 1) * 0.10 / math.sqrt(k)  # noqa: E731
    room = 0.20 - math.log(1.05)
    assert half(n) < room <= half(n - 1)
    assert stats.blocks_needed(math.log(1.05), 0.1, 3) is None  # on the margin: never


def _spiking(blocks=5, spiky=(1, 3), spike=2.6):
    """JAX 1.00 s every epoch; TensorFlow 1.00 s too, but one steady epoch of ``spike`` s in the
    blocks ``spiky``: its mean over every run is above JAX's."""
    out = []
    for k in range(blocks):
        for backend in ("jax", "tensorflow"):
            steady = [1.0, spike] if backend == "tensorflow" and k in spiky else [1.0, 1.0]
            cell = plan.Cell(spec="mlp_512", backend=backend, dataset="mnist", repeat=k)
            out.append(assemble.record(cell, run={"run_id": "r"}, status="ok", test_accuracy=0.97,
                                       train_samples=60000, epoch_s=[2.0, *steady], recipe={},
                                       curve=[{"epoch": 1, "train_s": 2.0, "test_accuracy": 0.99}]))
    return out


def test_a_backend_s_own_slow_epochs_count_in_its_figures():
    """Every run counts: the spiking TensorFlow is never the fastest, never equivalent; its
    slow epochs warn (flagged runs, the slow-epoch share) and stay in its mean."""
    rep = report.build(_spiking())
    t = rep.tidy.set_index("backend")
    assert t.loc["tensorflow", "steady_epoch_s"] == pytest.approx((3 * 1.0 + 2 * 1.8) / 5)
    assert t.loc["tensorflow", "flagged_runs"] == 2  # "outlier epoch": a warning
    assert t.loc["tensorflow", "slow_epoch_share"] == pytest.approx(2 / 10)
    assert t.loc["jax", "speed"] == "fastest"
    long = next(r for r in rep.recommend.itertuples() if r.question == "long")
    assert long.pick == "jax" and long.against["tensorflow"].verdict != "equivalent"
    assert long.against["tensorflow"].ratio == pytest.approx(1.32)


def _two_specs(spikes: bool):
    """mlp_512: TensorFlow's runs each with one 3 s steady epoch beside a 1 s one (or calm);
    linear_sgd: TensorFlow a steady 1.3x JAX in three calm runs of two steady epochs."""
    out = []
    for k in range(3):
        for spec, backend, steady in (
                ("mlp_512", "jax", [1.0, 1.0]),
                ("mlp_512", "tensorflow", [1.0, 3.0] if spikes else [1.0, 1.0]),
                ("linear_sgd", "jax", [1.0, 1.0]),
                ("linear_sgd", "tensorflow", [1.3 + 0.01 * k] * 2)):
            cell = plan.Cell(spec=spec, backend=backend, dataset="mnist", repeat=k)
            out.append(assemble.record(cell, run={"run_id": "r"}, status="ok", test_accuracy=0.97,
                                       train_samples=60000, epoch_s=[2.0, *steady], recipe={},
                                       curve=[{"epoch": 1, "train_s": 2.0, "test_accuracy": 0.99}]))
    return out


def test_a_backend_s_slow_epochs_seen_on_one_spec_widen_its_intervals_on_every_spec():
    """Three calm runs of two steady epochs say little about a backend whose epochs spike now
    and then: the epoch noise its cells show anywhere in the run (pooled over specs) is the
    floor under the spread of its comparisons, so a spec whose runs happened to miss the
    spikes is not decided on their calm alone."""
    def verdict(records):
        rep = report.build(records)
        long = next(r for r in rep.recommend.itertuples()
                    if r.question == "long" and r.spec == "linear_sgd")
        return long.pick, long.against["tensorflow"].verdict

    assert verdict(_two_specs(spikes=False)) == ("jax", "higher")
    assert verdict(_two_specs(spikes=True)) == ("jax", "undecided")


def test_a_verdict_is_made_at_the_last_scheduled_look():
    """Four paired blocks are judged as the look after block 3: the fourth (whose pair would
    look very different) is kept, and not judged."""
    a = {0: 1.3, 1: 1.31, 2: 1.29, 3: 0.5}
    b = {k: 1.0 for k in a}
    r = stats.paired_ratio(a, b)
    assert r.n == 3 and r.verdict == "higher"
    assert stats.paired_ratio(a, b, schedule=False).n == 4
    assert [stats.looked(n) for n in (2, 3, 4, 7, 8, 12, 15)] == [2, 3, 3, 5, 8, 12, 15]


def test_the_ratio_is_of_the_mean_figures_a_training_pays():
    """mean(A) / mean(B), not the mean of per-block ratios: a block where A paid 3 s against
    B's 1 s weighs as its seconds do."""
    r = stats.paired_ratio({0: 1.0, 1: 1.0, 2: 3.0}, {0: 1.0, 1: 1.0, 2: 1.0})
    assert r.ratio == pytest.approx(5 / 3)
    geometric = math.exp(statistics.fmean(math.log(x) for x in (1.0, 1.0, 3.0)))
    assert r.ratio > geometric * 1.1


# -- the adaptive loop, over a stand-in executor that writes records ----------------------

SPEEDS = {"jax": 1.0, "torch": 1.3, "tensorflow": 1.01, "sklearn": 2.0}  # seconds per steady epoch (or pass)


class FakeExecutor:
    """Writes, for each cell, the record of a run whose steady epoch is its backend's speed
    (with a small block-to-block wobble); ``flag_once`` marks the first run of a cell with
    ``flag`` (three times slower); each cell "takes" ``cell_s`` of a fake clock."""

    def __init__(self, out, rs, clock, cell_s=10.0, flag_once=(), flag="foreign load"):
        self.out, self.rs, self.clock, self.cell_s, self.flag = out, rs, clock, cell_s, flag
        self.flag_once, self.flagged, self.ran = set(flag_once), set(), []

    def run(self, cells, stop=None):
        for cell in cells:
            if stop is not None and stop():
                return
            self.ran.append(cell)
            took = self.cell_s(cell) if callable(self.cell_s) else self.cell_s
            self.clock[0] += took
            mean = SPEEDS[cell.backend] * (1 + 0.01 * ((cell.repeat * 7 + len(cell.backend)) % 3 - 1))
            key = (cell.backend, cell.repeat)
            if cell.attempt:
                key = None
            flags = []
            if cell.backend in self.flag_once and key is not None and key not in self.flagged:
                self.flagged.add(key)
                flags, mean = [self.flag], mean * 3
            steady = [mean, mean] if not flags else [mean / 3, 5 * mean / 3]  # a slow epoch
            store.append(self.out, assemble.record(
                cell, run={"run_id": self.rs.run_id, "order_seed": self.rs.order_seed},
                status="ok", test_accuracy=0.97, train_samples=60000,
                epoch_s=[2 * mean, *steady], first_epoch_s=2 * mean, steady_epoch_s=mean,
                curve=[{"epoch": 1, "train_s": 2 * mean, "test_accuracy": 0.99}],
                recipe={}, flags=flags, cell_wall_s=took))


def _until(tmp_path, backends, budget_min=60.0, rs=None, clock=None, **fake):
    rs = rs or plan.RunSettings(specs=("mlp_512",), backends=backends, until_decided=True,
                                budget_min=budget_min).started()
    clock = clock or [0.0]
    ex = FakeExecutor(tmp_path, rs, clock, **fake)
    lines = []
    until = UntilDecided(rs, tmp_path, ex.run, say=lines.append, now=lambda: clock[0])
    until.run()
    return until, ex, lines


def test_until_decided_stops_at_the_first_look_that_decides_everything(tmp_path):
    until, ex, lines = _until(tmp_path, ("jax", "torch"))
    assert until.stopped_by == "decided"
    assert len(ex.ran) == 2 * stats.LOOKS[0]  # three blocks, then nothing open
    assert any(line.startswith("look after block 3: 2 of 2 comparisons decided") for line in lines)
    assert all(c.ratio.verdict == "higher" for c in until.comparisons)  # torch/jax 1.3x


def test_until_decided_measures_only_open_comparisons_after_a_look(tmp_path):
    """jax and tensorflow are 1% apart (undecided at first), torch 1.3x slower (decided at
    the first look): after block 3 only the open pair's variants run."""
    until, ex, lines = _until(tmp_path, ("jax", "torch", "tensorflow"))
    later = [c.backend for c in ex.ran if c.repeat >= stats.LOOKS[0]]
    assert later and "torch" not in later and set(later) == {"jax", "tensorflow"}
    decided = {c.label: c.ratio.verdict for c in until.comparisons}
    assert "undecided" not in decided.values() or until.stopped_by == "blocks"
    # jax and tensorflow end equivalent within ±5% (their wobble is ±1%)
    assert any(c.ratio.verdict == "equivalent" for c in until.comparisons), decided


def test_a_budget_that_cannot_reach_the_first_verdict_says_so_at_once(tmp_path):
    """Cells of 10 s and a budget of 1 minute: a block of three cells is 30 s and the first
    verdict needs three. After its first three cells the run says so, with the budget that
    would do, and stops rather than spend the minute on nothing."""
    until, ex, lines = _until(tmp_path, ("jax", "torch", "tensorflow"), budget_min=1.0)
    assert until.stopped_by == "budget"
    assert len(ex.ran) == 3
    said = next(line for line in lines if "cannot be reached" in line)
    assert "--budget 2" in said and "no spec's first verdict fits" in said, said
    summary = until.summary()
    assert "the budget is spent" in summary[0]
    assert all("left out at the start" in line for line in summary[1:]), summary


def test_the_budget_goes_to_the_specs_whose_first_verdict_fits(tmp_path):
    """Two specs, mlp_512 cheap (1 s a cell) and cnn_3conv dear (60 s): three blocks of both do
    not fit in 4 minutes, three of mlp_512 do. The run keeps mlp_512, decides it, and names
    cnn_3conv as left out."""
    rs = plan.RunSettings(specs=("mlp_512", "cnn_3conv"), backends=("jax", "torch"),
                          until_decided=True, budget_min=4.0, order_seed=1).started()
    until, ex, lines = _until(tmp_path, None, rs=rs,
                              cell_s=lambda c: 1.0 if c.spec == "mlp_512" else 60.0)
    said = next(line for line in lines if "cannot be reached" in line)
    assert "spending it on mlp_512" in said and "left out: cnn_3conv" in said, said
    assert {c.spec for c in ex.ran[4:]} <= {"mlp_512"}
    mlp = [c for c in until.comparisons if c.a[0] == "mlp_512"]
    assert mlp and all(c.ratio.decided for c in mlp)
    assert any("cnn_3conv" in line and "left out at the start" in line for line in until.summary())


def test_the_budget_is_never_spent_on_a_spec_with_nothing_to_decide(tmp_path):
    """The baseline is one variant: cheap, but it has no comparison. When the first verdict of
    the one spec with comparisons does not fit, the run stops and says so; it does not spend
    the budget measuring the baseline (it did, and then said "every comparison is decided")."""
    rs = plan.RunSettings(specs=("mlp_512", "sgd_classifier"), backends=("jax", "torch"),
                          until_decided=True, budget_min=1.5, order_seed=1).started()
    until, ex, lines = _until(tmp_path, None, rs=rs,
                              cell_s=lambda c: 0.5 if c.spec == "sgd_classifier" else 20.0)
    said = next((line for line in lines if "cannot be reached" in line), lines)
    assert "no spec's first verdict fits: stopping" in said and "spending" not in said, said
    assert until.stopped_by == "budget"
    assert max(c.repeat for c in ex.ran) == 0  # nothing past the block that showed the cost


def test_a_dear_spec_measured_late_in_the_first_block_is_planned_for(tmp_path):
    """Cheap specs first (1 s a cell), cnn_3conv last in the first block (60 s a cell): the
    provisional plan after three cheap cells sees a block of seconds; once cnn_3conv is measured
    the run plans again, finds the first verdict out of reach with it, leaves it out and spends
    the budget deciding the others (without the second plan it ran the whole block and stopped
    before block 2 with nothing decided)."""
    specs = ("mlp_512", "mlp_100x2", "cnn_3conv")
    base = plan.RunSettings(specs=specs, backends=("jax", "torch"), until_decided=True,
                            budget_min=4.0)
    seed = next(s for s in range(200)
                if [c.spec for c in plan.block(replace(base, order_seed=s), 0)][-2:] == ["cnn_3conv"] * 2)
    rs = replace(base, order_seed=seed).started()
    until, ex, lines = _until(tmp_path, None, rs=rs,
                              cell_s=lambda c: 60.0 if c.spec == "cnn_3conv" else 1.0)
    plans = [line for line in lines if line.startswith("plan")]
    assert plans[0].startswith("plan (provisional, from 3 cells: 1 of 3 specs"), plans
    assert any(p.startswith("plan (every spec measured)") for p in plans), plans
    said = next(line for line in lines if "cannot be reached" in line)
    assert "left out: cnn_3conv" in said, said
    assert [c.spec for c in ex.ran].count("cnn_3conv") == 1  # the one that showed its cost
    kept = [c for c in until.comparisons if c.a[0] != "cnn_3conv"]
    assert kept and all(c.ratio.decided for c in kept)


def test_a_dear_spec_measured_first_leaves_none_of_the_others_out_on_a_guess(tmp_path):
    """cnn_3conv's cells first in the first block (60 s each), then cheap specs (1 s): after
    three cells the provisional plan counts the specs not measured yet at the median cell so
    far (cnn_3conv's), and says so without leaving any of them out; the final plan, once every
    spec is measured, leaves out cnn_3conv and the budget decides the others (the provisional
    plan used to keep cnn_3conv alone, the one spec it had measured)."""
    specs = ("mlp_512", "mlp_100x2", "cnn_3conv")
    base = plan.RunSettings(specs=specs, backends=("jax", "torch"), until_decided=True,
                            budget_min=4.0)
    seed = next(s for s in range(200)
                if [c.spec for c in plan.block(replace(base, order_seed=s), 0)][:2] == ["cnn_3conv"] * 2)
    rs = replace(base, order_seed=seed).started()
    until, ex, lines = _until(tmp_path, None, rs=rs,
                              cell_s=lambda c: 60.0 if c.spec == "cnn_3conv" else 1.0)
    plans = [line for line in lines if line.startswith("plan")]
    assert plans[0].startswith("plan (provisional"), plans
    assert any(p.startswith("plan (provisional): at this estimate the first verdict would not fit")
               for p in plans), plans
    said = next(line for line in lines if "cannot be reached" in line)
    assert "left out: cnn_3conv" in said and "mlp_512" in said and "mlp_100x2" in said, said
    assert {c.spec for c in ex.ran[:6]} == set(specs)  # the first block ran whole
    kept = [c for c in until.comparisons if c.a[0] != "cnn_3conv"]
    assert kept and all(c.ratio.decided for c in kept)


def test_no_run_outlives_its_budget_by_more_than_one_cell(tmp_path):
    """Cells of 10 s for the first block, then the machine slows tenfold: block 2 was planned
    at 30 s but its first cell alone takes 100 s and spends the 100-second budget. No further
    cell starts: the run ends mid-block, past its budget by that one cell at most."""
    clock = [0.0]
    slow = lambda c: 10.0 if clock[0] < 30 else 100.0  # noqa: E731
    rs = plan.RunSettings(specs=("mlp_512",), backends=("jax", "torch", "tensorflow"),
                          until_decided=True, budget_min=100 / 60).started()
    until, ex, lines = _until(tmp_path, None, rs=rs, clock=clock, cell_s=slow)
    assert until.stopped_by == "budget"
    assert len(ex.ran) == 4 and clock[0] == 130.0
    assert any(line.startswith("budget: spent during block 2") for line in lines), lines


def test_a_run_disturbed_from_outside_is_measured_again_with_its_block(tmp_path):
    """torch's first run in each block is disturbed by foreign load: each block (both cells, in
    the same order) is measured again; every record stays, the tables count the earlier pair, and the
    block's last measurement stands for it on both sides."""
    until, ex, lines = _until(tmp_path, ("jax", "torch"), flag_once=("torch",))
    assert any(line.startswith("measuring block 1 again (2 cells, in the same order)")
               for line in lines), lines
    recs = store.load(tmp_path)
    first = [(r["backend"], r.get("attempt") or 0) for r in recs if r["block"] == 0]
    assert sorted(first) == [("jax", 0), ("jax", 1), ("torch", 0), ("torch", 1)]
    order = [[r["backend"] for r in recs if r["block"] == 0 and (r.get("attempt") or 0) == k]
             for k in (0, 1)]
    assert order[0] == order[1]
    t = report.build(recs).tidy.set_index("backend")
    assert list(t.remeasured_runs) == [3, 3]  # one earlier measurement of each of 3 blocks
    assert t.loc["torch", "remeasured_why"] == ["foreign load"]
    assert t.loc["torch", "steady_epoch_s"] == pytest.approx(1.3, rel=0.02)
    assert until.stopped_by == "decided"


@pytest.mark.parametrize("flag", ["outlier epoch", "stopped"])
def test_a_backend_s_own_slow_run_is_not_measured_again(tmp_path, flag):
    """Flags that a backend's own behaviour raises warn: the run counts as it is."""
    until, ex, lines = _until(tmp_path, ("jax", "torch"), flag_once=("torch",), flag=flag)
    assert not any("again" in line for line in lines), lines
    recs = store.load(tmp_path)
    assert not any(r.get("attempt") for r in recs)
    t = report.build(recs).tidy.set_index("backend")
    assert t.loc["torch", "flagged_runs"] >= 1
    assert t.loc["torch", "steady_epoch_s"] > 1.3 * 1.3  # the slow run is in the mean


def test_a_budget_stop_keeps_the_last_looks_verdicts_and_resume_goes_on_from_there(tmp_path):
    """Cells of 10 s, two a block, 110 s of budget: blocks 4 and 5 fit after the look at block
    3, but block 4's cells take 30 s and spend the budget. The verdicts are that look's, block 4
    is kept and shown, and the state is in run.json. A resume neither looks again nor gets its
    budget back."""
    rs = plan.RunSettings(specs=("mlp_512",), backends=("jax", "tensorflow"), until_decided=True,
                          budget_min=110 / 60).started()
    clock = [0.0]
    until, ex, lines = _until(tmp_path, None, rs=rs, clock=clock,
                              cell_s=lambda c: 10.0 if c.repeat < 3 else 30.0)
    assert until.stopped_by == "budget" and len(ex.ran) == 8
    assert sum(line.startswith("look after") for line in lines) == 1, lines
    assert all(c.ratio.n == 3 for c in until.comparisons)
    assert any("blocks 4-4 are kept and shown" in line for line in lines), lines
    saved = plan.load_plan(tmp_path)
    assert saved.looked == 3 and saved.spent_s == pytest.approx(120.0)
    assert saved.looks == (3, 5)  # the look schedule planned to the budget, kept for the resume
    again = UntilDecided(saved, tmp_path, ex.run, say=(later := []).append, now=lambda: clock[0])
    again.run()
    assert not any(line.startswith("look after") for line in later), later
    assert again.stopped_by == "budget" and len(ex.ran) == 8
    assert all(c.ratio.n == 3 for c in again.comparisons)
    assert again.looks == (3, 5) and not any(line.startswith("plan: looks") for line in later)
    # a run saved after a look without a planned schedule (made before schedules were planned)
    # keeps the four looks its first look was judged under, whatever its budget now reaches
    old = UntilDecided(replace(saved, looks=(), budget_min=140 / 60), tmp_path, ex.run,
                       say=(older := []).append, now=lambda: clock[0])
    old.run()
    assert old.looks == stats.LOOKS and not any(line.startswith("plan: looks") for line in older)


def test_a_budget_that_reaches_one_look_spends_the_whole_alpha_on_it(tmp_path):
    """Cells of 10 s, two a block, 70 s of budget: the first look (block 3) fits, the next
    (block 5) does not. The run plans the one look before any verdict, says so, judges at 95%
    (the 5% of every comparison spent on that look), makes no block after it, and its folder,
    read again, is judged at the same schedule (run.json keeps it)."""
    rs = plan.RunSettings(specs=("mlp_512",), backends=("jax", "torch"), until_decided=True,
                          budget_min=70 / 60).started()
    until, ex, lines = _until(tmp_path, None, rs=rs)
    said = next(line for line in lines if line.startswith("plan: looks"))
    assert said.startswith("plan: looks after block 3 (no later look fits in the") and "95%" in said
    assert until.looks == (3,) and max(c.repeat for c in ex.ran) == 2
    assert all(c.ratio.confidence == pytest.approx(0.95) for c in until.comparisons)
    assert plan.load_plan(tmp_path).looks == (3,)
    rep = report.build(store.load(tmp_path))
    again = decisions.comparisons(rep)
    assert [(c.ratio.low, c.ratio.high) for c in again] == [
        (c.ratio.low, c.ratio.high) for c in until.comparisons]
    from mnist_bench.render import markdown

    assert "| 3 (95%) " in markdown.markdown(rep)  # the runs table names the schedule
    assert "no later look fitted in the budget" in until.summary()[0]


def test_fewer_looks_narrow_the_interval_and_decide_sooner():
    """The same three paired blocks, judged at a schedule of one look (95%) and of four
    (98.75% each): the one-look interval is narrower, and decides a 1.5x difference the
    four-look schedule leaves open at its first look. A schedule is the first of the looks."""
    a, b = {0: 1.5, 1: 1.7, 2: 1.4}, {0: 1.0, 1: 1.0, 2: 1.0}
    one = stats.paired_ratio(stats.Figures(a, looks=(3,)), stats.Figures(b, looks=(3,)))
    four = stats.paired_ratio(a, b)
    assert one.ratio == four.ratio and four.low < one.low and one.high < four.high
    assert (one.verdict, four.verdict) == ("higher", "undecided")
    with pytest.raises(settings.SettingsError, match="a look schedule is the first of"):
        plan.check(plan.RunSettings(until_decided=True, looks=(3, 8)))


def test_no_block_starts_that_no_look_would_judge(tmp_path):
    """Cells of 10 s, two a block, 85 s of budget: after the look at block 3, 25 s are left and
    the next look needs blocks 4 and 5 (40 s). The run stops there and says why, rather than
    spend the budget on a block no look judges (it ran block 4 and ended past its look)."""
    rs = plan.RunSettings(specs=("mlp_512",), backends=("jax", "tensorflow"), until_decided=True,
                          budget_min=85 / 60).started()
    until, ex, lines = _until(tmp_path, None, rs=rs)
    assert until.stopped_by == "out of reach" and len(ex.ran) == 6
    said = next(line for line in lines if line.startswith("budget: the look after block 5"))
    assert "no open spec's next look fits: no more blocks" in said, said
    assert "next look fits in the 0.4 minutes of budget left" in until.summary()[0], until.summary()


def test_a_block_whose_look_no_longer_fits_runs_the_specs_whose_look_does(tmp_path):
    """mlp_512 cheap (1 s a cell), cnn_3conv dear (60 s, then 90 s from block 2 on: the machine
    slowed): the plan fits both in 400 s, but before block 3 the first look no longer fits with
    cnn_3conv. Block 3 runs mlp_512 alone, which the look then decides; cnn_3conv is named as
    left out at block 3 (the run used to stop before block 3 with nothing decided)."""
    rs = plan.RunSettings(specs=("mlp_512", "cnn_3conv"), backends=("jax", "torch"),
                          until_decided=True, budget_min=400 / 60, order_seed=1).started()
    clock = [0.0]
    until, ex, lines = _until(
        tmp_path, None, rs=rs, clock=clock,
        cell_s=lambda c: 1.0 if c.spec == "mlp_512" else 60.0 if c.repeat == 0 else 90.0)
    assert not any("cannot be reached" in line for line in lines), lines  # the plan fitted
    said = next(line for line in lines if line.startswith("budget: the look after block 3"))
    assert "block 3 on: mlp_512" in said and "left out: cnn_3conv" in said, said
    assert [c.spec for c in ex.ran].count("cnn_3conv") == 4  # blocks 1 and 2
    assert {c.spec for c in ex.ran if c.repeat == 2} == {"mlp_512"}
    mlp = [c for c in until.comparisons if c.a[0] == "mlp_512"]
    assert mlp and all(c.ratio.decided for c in mlp)
    assert until.stopped_by == "blocks" and clock[0] <= 400  # its one planned look is made
    assert any(line.startswith("plan: looks after block 3 (no later look fits") for line in lines)
    summary = until.summary()
    assert any("cnn_3conv" in line and "left out at block 3: the budget could not reach its "
               "first verdict" in line for line in summary if line.startswith("  open:")), summary


# -- the recommendation's decisions, and their replication --------------------------------

def _records(speeds: dict, blocks: int, run_id="r", wobble=0.01):
    out = []
    for k in range(blocks):
        for backend, s in speeds.items():
            mean = s * (1 + wobble * ((k * 7 + len(backend)) % 3 - 1))
            cell = plan.Cell(spec="mlp_512", backend=backend, dataset="mnist", repeat=k)
            out.append(assemble.record(cell, run={"run_id": run_id}, status="ok", test_accuracy=0.97,
                                       train_samples=60000, epoch_s=[2 * mean, mean, mean],
                                       first_epoch_s=2 * mean, steady_epoch_s=mean, recipe={},
                                       curve=[{"epoch": 1, "train_s": 2 * mean, "test_accuracy": 0.99}]))
    return out


def test_the_recommendation_says_pick_equivalent_or_undecided():
    rep = report.build(_records({"jax": 1.0, "torch": 1.3}, 5))
    rows = {r.question: r for r in rep.recommend.itertuples()}
    assert rows["long"].decision == "pick" and rows["long"].pick == "jax"
    pick, why = derived.decision_text(rows["long"])
    assert pick == "jax" and why.startswith("faster than torch: 1.30x [")

    rep = report.build(_records({"jax": 1.0, "tensorflow": 1.01}, 8))
    row = next(r for r in rep.recommend.itertuples() if r.question == "long")
    assert row.decision == "equivalent" and row.equivalent_to == ["tensorflow"]
    assert derived.decision_text(row)[0] in ("jax or tensorflow", "tensorflow or jax")

    rep = report.build(_records({"jax": 1.0, "tensorflow": 1.04}, 3, wobble=0.05))
    row = next(r for r in rep.recommend.itertuples() if r.question == "long")
    assert row.decision == "undecided"
    pick, why = derived.decision_text(row)
    assert pick.startswith("(") and "undecided, needs" in why and "tie" not in why


def test_compare_counts_verdicts_that_replicate_and_flip(tmp_path):
    from .test_regressions import write

    a = write(tmp_path / "a", _records({"jax": 1.0, "torch": 1.3}, 5, run_id="one"))
    b = write(tmp_path / "b", _records({"jax": 1.0, "torch": 1.3}, 5, run_id="two"))
    c = write(tmp_path / "c", _records({"jax": 1.3, "torch": 1.0}, 5, run_id="three"))
    same = run_cli("compare", a, b, "--allow-missing")
    assert "2 comparisons on both sides: 2 the same decision on both, 0 decided differently" in same.stdout, same.stdout
    flip = run_cli("compare", a, c, "--allow-missing")
    assert "0 the same decision on both, 2 decided differently" in flip.stdout, flip.stdout
    old = decisions.comparisons(report.build(store.load(a)))
    new = decisions.comparisons(report.build(store.load(c)))
    counted = decisions.replication(old, new)
    assert counted["flipped"] == 2
    assert all({x, y} == {"higher", "lower"} for _, x, y in counted["pairs"]), counted["pairs"]


def test_picks_that_differ_between_a_short_and_a_long_training_are_named():
    recs = _records({"jax": 1.0, "torch": 1.3}, 5)
    for r in recs:  # jax compiles slowly: torch reaches the target first
        if r["backend"] == "jax":
            r["curve"] = [{"epoch": 1, "train_s": 10.0, "test_accuracy": 0.99}]
    rep = report.build(recs)
    by = {r.question: r for r in rep.recommend.itertuples()}
    assert by["short"].pick == "torch" and by["long"].pick == "jax"
    text = derived.recommendation_markdown(rep.recommend)
    assert "torch for a short training, jax for a long one" in text
    assert len(views.recommend(rep.tidy)) == 2


@pytest.mark.parametrize("folder", ["cpu-decide-d", "cpu-native"])
def test_a_look_judges_from_the_verdict_tables_alone_as_the_report_does(folder):
    """Each look of --until-decided builds only the verdict tables (report.judge), not a whole
    report; its comparisons are the report's, interval for interval."""
    from pathlib import Path

    recs = store.load(Path(__file__).parent.parent / "results" / folder)
    whole = decisions.comparisons(report.build(recs))
    alone = decisions.comparisons(report.judge(recs))
    assert len(whole) > 10
    def what(c):
        return (c.table, c.run, c.label, c.a, c.b, c.ratio.ratio, c.ratio.low, c.ratio.high,
                c.ratio.decided)

    assert [what(c) for c in alone] == [what(c) for c in whole]
