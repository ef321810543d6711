"""--executor ray: the matrix on every fitting node of a Ray cluster, records in one store, a lost
node recorded rather than silently missing; and the report of several machines side by side."""

from __future__ import annotations

import datetime as dt
import re
import subprocess
import sys
import time
from dataclasses import replace

import pytest

from mnist_bench import cli, plan
from mnist_bench.record import store
from mnist_bench.analysis import decisions, keys, report, stats, tidy
from mnist_bench.execute import ray as ray_exec
from mnist_bench.render import markdown

from .conftest import ROOT, run_cli

RESULTS = ROOT / "results"


def node(name, host="vm", labels=None, alive=True, **resources):
    return {"NodeID": name * 7 + "0" * (56 - 7 * len(name)), "Alive": alive,
            "NodeManagerAddress": "10.0.0.1", "NodeManagerHostname": host,
            "Labels": labels or {}, "Resources": {"CPU": 2.0, **resources}}


def test_nodes_are_named_by_label_else_host_and_never_twice():
    table = [node("a", labels={ray_exec.LABEL: "h100-box"}, GPU=1.0), node("b"), node("c"),
             node("d", host="other"), node("e", alive=False)]
    names = [n.name for n in ray_exec.nodes_from_table(table)]
    assert names == ["h100-box", "other", "vm-bbbbbbb0", "vm-ccccccc0"]  # the dead node is left out


def test_a_node_takes_the_matrix_only_with_what_it_asks_for():
    nodes = ray_exec.nodes_from_table([node("a", labels={ray_exec.LABEL: "gpu"}, GPU=1.0, h100=1.0),
                                       node("b", labels={ray_exec.LABEL: "cpu"})])
    pick = lambda device, res: [n.name for n in ray_exec.eligible(nodes, ray_exec.needs(device, res))]
    assert pick("cpu", {}) == ["cpu", "gpu"]
    assert pick("gpu", {}) == ["gpu"]
    assert pick("cpu", {"h100": 1}) == ["gpu"]
    assert pick("cpu", {"a100": 1}) == []


@pytest.mark.parametrize("text, complaint", [
    ("h100", "expected NAME=AMOUNT"), ("h100=0", "positive"), ("h100=x", "expected NAME=AMOUNT"),
    ("CPU=2", "set by mnist-bench")])
def test_bad_resources_get_one_line(text, complaint):
    with pytest.raises(ray_exec.SettingsError, match=complaint):
        ray_exec.parse_resources([text])
    assert ray_exec.parse_resources(["h100=1", "accelerator_type:H100=0.001"]) == {
        "h100": 1.0, "accelerator_type:H100": 0.001}


def test_every_node_plans_the_whole_matrix_in_one_order():
    rs = plan.RunSettings(specs=("mlp_100x2", "sgd_classifier"), backends=("jax", "torch"),
                            repeats=2, order_seed=3, executor="ray", nodes=("a", "b"))
    cells = plan.plan(rs)
    by_node = {n: [c for c in cells if c.node == n] for n in rs.nodes}
    strip = lambda cs: [replace(c, node=None).key() for c in cs]
    assert len(by_node["a"]) == 6 and strip(by_node["a"]) == strip(by_node["b"])
    assert len({c.key() for c in cells}) == 12  # the node is part of what a cell is (--resume)


@pytest.mark.parametrize("args, complaint", [
    (["--ray-address", "x:1"], "--ray-address needs --executor ray"),
    (["--cells-per-node", "2"], "--cells-per-node needs --executor ray"),
    (["--executor", "slurm"], "unknown executor 'slurm'; valid: local, ray")])
def test_executor_options_are_checked_first(args, complaint, capsys, tmp_path):
    assert cli.main(["run", "--profile", "smoke", "--out", str(tmp_path), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert complaint in err and len(err.splitlines()) == 1
    assert not (tmp_path / "records.jsonl").exists()


def test_without_ray_installed_it_says_how_to_install(monkeypatch, capsys, tmp_path):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    assert cli.main(["run", "--executor", "ray", "--profile", "smoke", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "pip install 'mnist-bench[ray]'" in err and len(err.splitlines()) == 1


def test_two_machines_stores_side_by_side():
    """Real records of two machines (this CPU, and the H100 machine): mlp_512 on JAX and
    PyTorch sits in one row per variant with each machine's own figures, no ratio between the
    two runs, and the differing library versions are named."""
    stores = [RESULTS / "cpu-native", RESULTS / "gpu-h100" / "quick-mlp512"]
    recs = [r for s in stores for r in store.load(s)]
    rep = report.build(recs)
    assert rep.tidy.machine.nunique() == 2
    side = rep.machines
    cpu_m, gpu_m = (keys.machine_of(store.load(s)[0]) for s in stores)
    assert "H100" in gpu_m and "H100" not in cpu_m and side.columns == [cpu_m, gpu_m]
    rows = {(r["spec"], r["backend"], r["impl"], r["mode"]): r["cells"] for r in side.rows}
    for backend in ("jax", "torch"):
        cells = rows[("mlp_512", backend, "keras", "default")]
        for where, m in zip(stores, (cpu_m, gpu_m)):
            own = tidy.tidy(store.load(where))
            mine = own[(own.spec == "mlp_512") & (own.backend == backend) & (own.impl == "keras")
                       & (own["mode"] == "default")].iloc[0]
            assert cells[m]["epoch_s"] == mine.steady_epoch_s
        assert cells[gpu_m]["same_run"] is False and cells[gpu_m]["vs_first"] is None
    assert rows[("linear_rmsprop", "jax", "keras", "default")][gpu_m] == {"status": "not run"}
    text = markdown.markdown(rep)
    assert "### The same cells on each machine, side by side" in text
    assert "different runs: no ratio" in text
    cpu_v, gpu_v = (store.load(s)[0]["versions"]["jax"] for s in stores)  # as the records say
    assert cpu_v != gpu_v and f"jax: {cpu_v} on {cpu_m}" in text and f"{gpu_v} on {gpu_m}" in text


@pytest.mark.slow
def test_until_decided_runs_its_blocks_through_ray(tmp_path):
    # (before two_nodes starts its cluster: a Ray started by the run must be its own)
    """--until-decided on the Ray executor: each block goes to the cluster's node (one Ray
    instance started here), its records stream into the store with the node, and the budget
    stops the run between blocks with the reason said."""
    out = tmp_path / "until-ray"
    proc = run_cli("run", "--executor", "ray", "--until-decided", "--budget", "0.2",
                   "--profile", "smoke", "--backends", "jax,torch", "--models", "mlp_100x2,sgd_classifier",
                   "--out", out, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    recs = store.load(out)
    # 12 s of budget: however fast the machine, the run stops for its budget before the
    # first look (block 3), inside a block (its measured cells kept) or before one
    assert recs and all(r["status"] == "ok" and r["node"] for r in recs), recs
    assert max(r["block"] for r in recs) < stats.LOOKS[0], recs
    assert {r["spec"] for r in recs} <= {"mlp_100x2", "sgd_classifier"}
    assert "until decided: stopped because the budget is spent after" in proc.stderr
    assert re.search(r"budget: (block \d would take about|spent during block \d; the measured "
                     r"cells are kept)|the first verdict cannot be reached in 0.2 minutes",
                     proc.stderr), proc.stderr[-3000:]


@pytest.fixture(scope="module")
def two_nodes():
    """Two Ray nodes on this machine, node-a and node-b, with custom resources a and b: the
    spread test shares blocks between them first, then the cluster test loses node-b."""
    from ray import cluster_utils

    cluster = cluster_utils.Cluster(initialize_head=True, head_node_args={
        "num_cpus": 0, "include_dashboard": False})
    try:
        a = cluster.add_node(num_cpus=1, resources={"a": 1}, labels={ray_exec.LABEL: "node-a"})
        b = cluster.add_node(num_cpus=1, resources={"b": 1}, labels={ray_exec.LABEL: "node-b"})
        yield cluster, a, b
    finally:
        cluster.shutdown()


@pytest.mark.slow
def test_spread_blocks_run_each_block_whole_on_one_node_at_once(tmp_path, two_nodes):
    """--spread-blocks --until-decided on two Ray nodes of this machine: as many blocks at once
    as nodes share them (never past the next look), every block whole on one node, the nodes
    running at the same time, and the records one machine's for the tables (each naming its
    own node), so the blocks pair across nodes."""
    cluster, a, b = two_nodes
    nodes = {a.node_id: "node-a", b.node_id: "node-b"}
    out = tmp_path / "spread"
    # jax against torch on linear_sgd: about 5x apart, decided at the first look (block 3)
    proc = run_cli("run", "--executor", "ray", "--ray-address", cluster.address,
                   "--spread-blocks", "--until-decided", "--budget", "2", "--profile", "smoke",
                   "--backends", "jax,torch", "--models", "linear_sgd", "--order-seed", "3",
                   "--out", out, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    err = proc.stderr + proc.stdout
    assert "Ray nodes sharing the blocks: node-a, node-b" in err
    assert "blocks 1, 2: 4 cells on as many nodes" in err, err[-3000:]
    recs = store.load(out)
    assert len(recs) >= 6 and all(r["status"] == "ok" for r in recs)
    assert {r["node"] for r in recs} == {"node-a+node-b"}  # one machine for the tables
    by_block: dict = {}
    for r in recs:
        by_block.setdefault((r["block"], r.get("attempt") or 0), set()).add(r["ray"]["node_id"])
    assert {k for k, _ in by_block} >= {0, 1, 2}
    assert all(len(ids) == 1 for ids in by_block.values()), by_block  # each block whole
    assert set().union(*by_block.values()) == set(nodes)  # both nodes took blocks
    assert {r["ray"]["name"] for r in recs} == {"node-a", "node-b"}
    # blocks 1 and 2 ran at once on the two nodes: their cells' spans overlap in time
    spans = {}
    for r in recs:
        if r["block"] in (0, 1):
            end = dt.datetime.fromisoformat(r["timestamp"]).timestamp()
            spans.setdefault(r["ray"]["node_id"], []).append((end - r["cell_wall_s"], end))
    (x, y) = spans.values()
    assert min(e for _, e in x) > min(s for s, _ in y) and min(e for _, e in y) > min(s for s, _ in x)
    # paired by block across the nodes: the first look's comparisons have their 3 blocks
    comps = decisions.comparisons(report.build([r for r in recs if r["block"] < 3]))
    assert comps and all(c.ratio.n == 3 for c in comps)


@pytest.mark.slow
def test_cluster_run_records_every_cell_on_its_node_and_a_lost_node(tmp_path, two_nodes):
    """Two Ray nodes on this machine with different custom resources and labels: both run the
    smoke matrix through the CLI into one store; node b is killed mid-run, and its cells are
    recorded failed with the reason, none missing; --resume knows b is gone."""
    cluster, a, b = two_nodes
    out = tmp_path / "cluster"
    args = ["run", "--executor", "ray", "--ray-address", cluster.address, "--profile", "smoke",
            "--backends", "jax", "--models", "mlp_100x2,sgd_classifier", "--repeats", "2",
            "--order-seed", "5", "--out", str(out)]
    proc = subprocess.Popen([sys.executable, "-m", "mnist_bench", *args], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while not any(r.get("node") == "node-b" and r["status"] == "ok"
                  for r in (store.load(out) if (out / "records.jsonl").exists() else [])):
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.2)
    cluster.remove_node(b, allow_graceful=False)  # b is mid-way through its second cell
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 1, stderr  # some cells failed: the run says so
    assert "Ray nodes running the matrix: node-a, node-b" in stderr

    recs = store.load(out)
    planned = plan.plan(plan.load_plan(out))
    assert {c.key() for c in planned} == {store.cell_of(r).key() for r in recs}  # no gap
    on_a = [r for r in recs if r["node"] == "node-a"]
    assert len(on_a) == 4 and all(r["status"] == "ok" for r in on_a)
    assert {r["ray"]["node_id"] for r in on_a} == {a.node_id}
    assert all(r["ray"]["resources"]["a"] == 1 and r["machine"]["cpu"]["model"] for r in on_a)
    on_b = [r for r in recs if r["node"] == "node-b"]
    ok_b = [r for r in on_b if r["status"] == "ok"]
    assert ok_b and {r["ray"]["node_id"] for r in ok_b} == {b.node_id}
    lost = [r for r in on_b if r["status"] == "failed"]
    assert lost and all("node node-b" in r["reason"] for r in lost)
    assert all(r["status"] in ("ok", "failed") for r in on_b)

    # the side-by-side table pairs the two nodes' first cell, measured in one run
    side = report.build(recs).machines
    first = ok_b[0]
    row = next(r for r in side.rows if (r["spec"], r["backend"]) == (first["spec"], first["backend"]))
    assert row["cells"]["node-b"]["same_run"] and isinstance(row["cells"]["node-b"]["vs_first"], stats.Ratio)
    # compare keys a cluster store's cells by node (machine): no crash, each node its own row
    cmp = run_cli("compare", out, out)
    assert cmp.returncode == 0 and "internal error" not in cmp.stderr, cmp.stderr
    assert "node-a" in cmp.stdout and "node-b" in cmp.stdout

    again = run_cli("run", "--out", out, "--resume", timeout=300)
    assert again.returncode == 1
    assert "node node-b is not in the Ray cluster now" in again.stderr + again.stdout
    after = store.load(out)
    assert len([r for r in after if r["node"] == "node-a"]) == 4  # nothing re-run on a
    assert len(after) == len(recs) + len(lost)
