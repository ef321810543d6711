"""Verdicts valid as shipped, reproduced from records alone (no training): one cell identity
(setup and method never pooled or paired), the outlier rule on every record, the margin in
every table, and resume refusing options that would change what the run is."""

from __future__ import annotations

import json

from .conftest import run_cli
from .test_regressions import main, rec, write


def _side(path, profile, mean, run_id, blocks=3, backends=("jax",)):
    return write(path, [rec(backend=b, block=k, mean=mean * (1 + 0.01 * k), profile=profile,
                            run_id=run_id) for k in range(blocks) for b in backends])


def _smoke_and_quick(tmp_path):
    smoke = _side(tmp_path / "smoke", "smoke", 0.02, "s")
    quick = _side(tmp_path / "quick", "quick", 1.0, "q")
    slow = _side(tmp_path / "slow", "quick", 7.0, "n")
    return smoke, quick, slow


def test_compare_never_pools_two_setups_into_one_figure(tmp_path):
    """OLD holds a smoke and a quick run, NEW a quick run 7x slower: the quick cells are paired
    with each other and the slowdown is a regression, whichever order OLD is given in."""
    smoke, quick, slow = _smoke_and_quick(tmp_path)
    for old in ((smoke, quick), (quick, smoke)):
        code, out, err = main("compare", *(x for o in old for x in ("--old", o)), "--new", slow,
                              "--allow-missing")
        assert code == 1, (out, err)
        assert "7.00x" in out and "no cell in common" not in err, (out, err)


def test_a_folder_of_two_setups_does_not_rank_one_against_the_other(tmp_path):
    """A smoke-profile jax record and quick-profile torch records of one run: two setups, so
    no ratio between them (today's defect printed 'torch 47.62x slower')."""
    recs = [rec(backend="jax", block=k, mean=0.021, profile="smoke") for k in range(3)]
    recs += [rec(backend="torch", block=k, mean=1.0) for k in range(3)]
    code, out, err = main("report", write(tmp_path / "mixed", recs))
    assert code == 0, err
    assert "x slower" not in out and "47." not in out, out
    assert "smoke, method 1" in out and "quick, method 1" in out, out


def test_records_of_two_methods_are_never_paired(tmp_path):
    old = write(tmp_path / "old", [rec(block=k, mean=1.0, run_id="a") for k in range(3)])
    new = write(tmp_path / "new", [rec(block=k, mean=1.0, run_id="b", method=2) for k in range(3)])
    code, out, err = main("compare", old, new)
    assert code == 1
    assert "OLD measured by method [1], NEW by method [2]" in err, err
    assert len([line for line in err.splitlines() if "method" in line]) == 1, err


def test_the_outlier_rule_judges_records_without_cpu_readings():
    """docs/method.md: every record is judged by the current rule; a record without per-epoch
    CPU readings still gets 'outlier epoch' from its epochs, and loses a stale one."""
    from mnist_bench.analysis.keys import flags_of

    assert flags_of({"backend": "jax", "epoch_s": [2.0, 1.0, 2.6]}) == ["outlier epoch"]
    assert flags_of({"backend": "jax", "epoch_s": [2.0, 1.0, 1.1], "flags": ["outlier epoch"]}) == []
    assert flags_of({"backend": "jax", "epoch_s": [2.0, 1.0, 1.1], "flags": ["stopped"]}) == ["stopped"]


def test_the_machines_table_uses_the_margin_it_is_given(tmp_path):
    """The same data is 'higher' at ±5% and 'equivalent' at ±30% in every table, the machines
    table included (it ignored --margin)."""
    from mnist_bench.analysis import report

    recs = [rec(block=k, epoch_s=[2 * m, *[m * (1 + 0.002 * k)] * 2], machine={"name": name},
                run_id="one", node=name) for k in range(3) for name, m in (("a", 1.0), ("b", 1.1))]
    for r in recs:  # one cluster run on two nodes: the nodes are paired by block
        r["ray"] = {"node_id": r["node"]}
    verdicts = {}
    for margin in (0.05, 0.30):
        side = report.build(json.loads(json.dumps(recs)), margin=margin).machines
        cell = side.rows[0]["cells"][side.columns[1]]
        verdicts[margin] = cell["vs_first"].verdict if cell.get("vs_first") else None
    assert verdicts == {0.05: "higher", 0.30: "equivalent"}, verdicts


def test_resume_refuses_options_that_change_the_run(tmp_path):
    for argv in (["--batch-sizes", "128,512"], ["--lr-scaling", "linear"]):
        proc = run_cli("run", "--out", tmp_path / "x", "--resume", *argv)
        assert proc.returncode == 2, proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and argv[0] in lines[0], proc.stderr


def test_a_record_with_a_damaged_strategy_field_still_renders(tmp_path):
    """A stored strategy that is not a whole one (found by the property test: ``{}``) is read
    off the record's settings instead of failing the report."""
    recs = [rec(block=k, strategy={}) for k in range(3)]
    code, out, err = main("report", write(tmp_path / "s", recs))
    assert code == 0 and "internal error" not in err, err


def test_gpu_verdicts_name_both_precisions_and_the_host_canary_marks_no_gpu_cell():
    """The published H200 records (JAX ran its float32 products as TF32, PyTorch as float32):
    every JAX-against-PyTorch verdict says so, and the host's canary, which measures neither the
    device nor anything a GPU cell waits on, marks none of them."""
    import pathlib

    from mnist_bench.analysis import report
    from mnist_bench.record import store
    from mnist_bench.render import derived

    folder = pathlib.Path(__file__).resolve().parent.parent / "results" / "gpu-h200" / "default-matrix"
    rep = report.build(store.load(folder))
    whys = [derived.decision_text(r)[1] for r in rep.recommend.itertuples()]
    assert len(whys) == 16
    assert all("jax ran tf32; torch float32" in w or "torch ran float32, conv tf32; jax tf32" in w
               for w in whys), whys
    assert rep.drift["cells flagged"].sum() == 0
    assert rep.tidy[rep.tidy.device_kind == "gpu"].drift.isna().all()  # the baseline is a CPU cell


def test_a_verdict_between_like_precisions_says_nothing_of_precision(tmp_path):
    from mnist_bench.analysis import report
    from mnist_bench.render import derived

    p = {"policy": "float32", "float32_matmul": "float32", "float32_conv": "float32"}
    recs = [rec(backend=b, block=k, mean=m, precision=p) for k in range(3)
            for b, m in (("jax", 1.0), ("torch", 1.5))]
    rows = report.build(json.loads(json.dumps(recs))).recommend
    assert not any("like for like" in derived.decision_text(r)[1] for r in rows.itertuples())
    recs[0]["precision"] = {**p, "float32_matmul": "tf32"}  # jax's first record ran TF32
    rows = report.build(json.loads(json.dumps(recs))).recommend
    long = next(r for r in rows.itertuples() if r.question == "long")
    assert "(jax ran tf32, conv float32; torch float32: not like for like)" in \
        derived.decision_text(long)[1]
