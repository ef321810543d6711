"""Comparisons between runs, the statistics behind them, and the HTML report in a real browser."""

import os
import re
import shutil
import subprocess

import pytest

from mnist_bench.settings import Cell

from mnist_bench.record import assemble
from mnist_bench.analysis import report, stats, tidy, views
from mnist_bench.render import cells as fmt
from mnist_bench.render import derived, markdown

from .conftest import run_cli


def _record(backend, block, mean, epochs=10, spec="mlp_512"):
    """A record of one run whose steady epochs sit within 0.1% of ``mean``."""
    steady = [mean * (1 + 0.001 * ((i % 3) - 1)) for i in range(epochs)]
    return assemble.record(Cell(spec=spec, backend=backend, dataset="mnist", repeat=block),
                           run={"run_id": "r"}, status="ok", test_accuracy=0.97,
                           train_samples=60000, epoch_s=[2 * mean, *steady],
                           epoch_call_s=[2 * mean, *steady], first_epoch_s=2 * mean,
                           steady_epoch_s=mean, recipe={})


def test_pooled_epochs_look_significant_but_runs_do_not():
    """Two backends whose runs cross over: the epochs pooled over runs would pass a rank test,
    the runs paired by block do not, and the table says undecided (never "tie")."""
    from scipy.stats import mannwhitneyu

    a = {0: 1.00, 1: 1.02, 2: 1.30}
    b = {0: 1.10, 1: 1.12, 2: 1.25}
    recs = [_record("jax", k, v) for k, v in a.items()] + [_record("torch", k, v) for k, v in b.items()]
    pooled = lambda backend: [t for r in recs if r["backend"] == backend for t in r["epoch_s"][1:]]  # noqa: E731
    assert mannwhitneyu(pooled("jax"), pooled("torch")).pvalue < 0.05
    t = tidy.tidy(recs).set_index("backend")
    assert t.loc["jax", "speed"] == "fastest"
    assert t.loc["torch", "speed"] == "undecided"
    assert t.loc["torch", "vs_fastest"].low < 1 < t.loc["torch", "vs_fastest"].high
    text = markdown.markdown(report.build(recs))
    assert "undecided" in text and " tie" not in text


def test_a_consistent_difference_over_blocks_is_called_with_its_interval():
    recs = [_record("jax", k, 1.0 + 0.1 * k) for k in range(5)] + \
           [_record("torch", k, (1.0 + 0.1 * k) * (2.0 + 0.02 * (-1) ** k)) for k in range(5)]
    row = tidy.tidy(recs).set_index("backend").loc["torch"]
    ratio = row["vs_fastest"]
    assert row["speed"] == "slower" and ratio.n == 5
    assert 1.9 < ratio.low < ratio.ratio < ratio.high < 2.1
    # two runs a side: a ratio, and no verdict
    two = tidy.tidy([r for r in recs if r["block"] < 2]).set_index("backend").loc["torch"]
    assert two["speed"] == stats.FEW and two["vs_fastest"].low is None
    assert fmt.vs_fastest(two) == f"{two['vs_fastest'].ratio:.2f}x (n=2)"


@pytest.mark.parametrize("value, shown", [(0.123, "12.3%"), (0.0123, "1.2%"), (0.00043, "0.043%"),
                                          (0.000042, "0.0042%"), (5e-6, "0.00050%"), (0.0, "0.0%")])
def test_a_share_of_peak_keeps_its_digits_when_small(value, shown):
    """A small model on a GPU reaches a few millionths of its peak: one decimal showed "0.0%"."""
    assert fmt.share(value) == shown


def test_paired_interval_is_the_delta_method_s_for_a_ratio_of_means():
    """The interval from the textbook form of the delta method (variances and covariance of
    the paired figures, numpy's), at the decision level, over the first scheduled look's
    blocks: four blocks are judged as three."""
    import math

    import numpy as np
    from scipy import stats as sps

    a, b = {0: 2.0, 1: 2.6, 2: 1.9, 3: 2.2}, {0: 1.0, 1: 1.2, 2: 1.0, 3: 1.05}
    x, y = np.array([a[k] for k in range(3)]), np.array([b[k] for k in range(3)])
    (vx, cxy), (_, vy) = np.cov(x, y, ddof=1)
    mx, my = x.mean(), y.mean()
    se = math.sqrt((vx / mx ** 2 + vy / my ** 2 - 2 * cxy / (mx * my)) / 3)
    level = 1 - stats.ALPHA / len(stats.LOOKS)  # 95% over the looks (Bonferroni)
    lo, hi = sps.t.interval(level, 2, loc=math.log(mx / my), scale=se)
    r = stats.paired_ratio(a, b)
    assert r.n == 3 and math.isclose(r.ratio, mx / my)
    assert math.isclose(r.low, math.exp(lo)) and math.isclose(r.high, math.exp(hi))
    assert r.verdict == "higher" and fmt.ratio(r).startswith(f"{r.ratio:.2f}x [")


def test_drift_canary_flags_cells_measured_on_a_slow_machine():
    recs = [{**_record("jax", k, 1.0), "canary_s": c} for k, c in enumerate([0.020, 0.021, 0.030])]
    rep = report.build(recs)
    assert rep.tidy.loc[0, "drift"] == pytest.approx(0.5)
    body = lambda md: md.split("### mnist")[1]  # noqa: E731 (past the legend and the runs)
    assert "‡" in body(markdown.markdown(rep))
    assert "‡" not in body(markdown.markdown(report.build(recs[:2])))


def test_time_to_target_takes_the_first_epoch_that_reaches_it():
    curve = [{"train_s": 2.0, "test_accuracy": 0.90}, {"train_s": 3.0, "test_accuracy": 0.95},
             {"train_s": 4.0, "test_accuracy": 0.97}]
    assert stats.time_to_target(curve, 0.95) == 3.0
    assert stats.time_to_target(curve, 0.99) is None


@pytest.mark.slow
def test_compare_a_run_with_itself_passes(smoke_run):
    out = smoke_run[0]
    proc = run_cli("compare", out, out)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 regression(s)" in proc.stderr


@pytest.mark.slow
def test_compare_catches_a_slowdown_of_one_cell(smoke_run, tmp_path):
    """Real records of one run, and the same records with one cell's epochs 1.5x as long: that
    cell, and only that cell, is slower (exit 1); the other way round it is faster, not a
    regression. (Whether the clock sees a real slowdown is the timing tests' job; this is the
    gate's logic on real records, independent of how busy the machine is.)"""
    import json

    recs = [r for r in smoke_run[2] if r["status"] == "ok"]
    slow_cell = next(r for r in recs if r["spec"] == "mlp_512" and r["backend"] == "jax")
    slowed = [{**r, "epoch_s": [t * 1.5 for t in r["epoch_s"]]} if r is slow_cell else r for r in recs]
    for name, rs in (("fast", recs), ("slow", slowed)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "records.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rs))
    proc = run_cli("compare", tmp_path / "fast", tmp_path / "slow", "--max-slowdown", "0.15")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    slower = [line for line in proc.stdout.splitlines() if "slower" in line]
    assert len(slower) == 1 and "| mlp_512 " in slower[0] and "| jax " in slower[0], proc.stdout
    assert "1 regression(s)" in proc.stderr
    back = run_cli("compare", tmp_path / "slow", tmp_path / "fast", "--max-slowdown", "0.15")
    assert back.returncode == 0 and "faster" in back.stdout, back.stdout + back.stderr


@pytest.mark.slow
def test_parity_and_recommendation_with_one_run(smoke_run):
    recs = smoke_run[2]
    t = tidy.tidy(recs)
    assert set(t.parity.dropna()) == {"one run"}  # one seed: no spread to judge by
    rec = views.recommend(t)
    # two questions a spec: a short training (time to target) and a long one (steady epoch)
    assert len(rec) == 2 * t[t.backend != "sklearn"].spec.nunique()
    assert set(rec.question) == {"short", "long"}
    # one run a backend: every comparison is a bare ratio marked undecided, never a verdict
    assert {m.verdict for against in rec.against for m in against.values()} == {stats.FEW}
    assert set(rec.decision) <= {"undecided", "none reached", "no runner-up"}
    assert "undecided" in derived.recommendation_markdown(rec)


@pytest.fixture(scope="session")
def chromium():
    found = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if not found and shutil.which("apt-get") and os.geteuid() == 0:
        subprocess.run(["apt-get", "install", "-y", "-q", "--no-install-recommends", "chromium"],
                       capture_output=True, timeout=900)
        if not shutil.which("chromium"):  # package lists missing on a fresh machine
            subprocess.run(["apt-get", "update", "-q"], capture_output=True, timeout=900)
            subprocess.run(["apt-get", "install", "-y", "-q", "--no-install-recommends", "chromium"],
                           capture_output=True, timeout=900)
        found = shutil.which("chromium")
    if not found:
        pytest.fail("a headless Chromium is needed: install Debian's 'chromium' package (or Chrome)")
    return found


PROBE = """<script>
window.addEventListener('load', () => {
  const imgs = [...document.images];
  document.body.dataset.images = imgs.map(i => i.complete && i.naturalWidth > 0).join(',');
  document.body.dataset.tables = document.querySelectorAll('table').length;
  document.body.dataset.rows = document.querySelectorAll('tr').length;
  const first = document.querySelector('.decision h3');
  document.body.dataset.decisionTop = first ? Math.round(first.getBoundingClientRect().top) : -1;
  const chart = document.querySelector('figure');
  document.body.dataset.chartTop = chart ? Math.round(chart.getBoundingClientRect().top) : -1;
  document.body.dataset.scrollWidth = document.documentElement.scrollWidth;
});
</script></body>"""


@pytest.mark.slow
def test_html_report_renders_in_a_headless_browser(smoke_run, tmp_path, chromium):
    out, _, _ = smoke_run
    page = (out / "report.html").read_text()
    assert "<script" not in page  # static and self-contained
    probe = tmp_path / "probe.html"
    probe.write_text(page.replace("</body>", PROBE))
    dom = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--window-size=980,800",
         "--disable-component-update", "--disable-sync", "--no-first-run",
         f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=5000", "--dump-dom",
         probe.as_uri()], capture_output=True, text=True, timeout=120).stdout
    images = re.search(r'data-images="([^"]*)"', dom).group(1).split(",")
    charts = sorted(p.name for p in out.glob("*.png"))
    assert charts == ["accuracy_curves.png", "epoch_time.png", "seconds.png"], charts
    assert len(images) == len(charts) and set(images) == {"true"}  # every chart decoded
    assert int(re.search(r'data-tables="(\d+)"', dom).group(1)) >= 5
    assert int(re.search(r'data-rows="(\d+)"', dom).group(1)) > 30
    for text in ("cnn_3conv", "Which backend", "Machines and runs", "keras"):
        assert text in dom
    # decision first: "Which backend" on the first screen (980 x 800), above the charts, and
    # the page itself no wider than the window (wide tables scroll in their own box)
    top = int(re.search(r'data-decision-top="(-?\d+)"', dom).group(1))
    assert 0 <= top < 800 and top < int(re.search(r'data-chart-top="(-?\d+)"', dom).group(1))
    assert int(re.search(r'data-scroll-width="(\d+)"', dom).group(1)) <= 980


@pytest.mark.parametrize("dataset, spec, backend, got, reported, within", [
    ("mnist", "mlp_512", "jax", 0.9750, 0.9800, True),  # 0.5 points: within 1 point
    ("mnist", "mlp_512", "torch", 0.9650, 0.9800, False),  # 1.5 points: a miss on MNIST
    ("fashion_mnist", "fmnist_mlp_20", "jax", 0.8380, 0.8500, True),  # 1.2: within 1.5 there
    ("fashion_mnist", "fmnist_mlp_20", "torch", 0.8300, 0.8500, False),  # 2.0: a miss
    ("mnist", "sgd_classifier", "sklearn", 0.9100, 0.9150, True),  # judged on its 15k split
])
def test_reproduction_table_judges_each_backend_against_its_source(dataset, spec, backend, got,
                                                                   reported, within):
    """A seed-profile record against its source's figure: within 1 point on MNIST and 1.5 on
    Fashion-MNIST, the baseline on the split its source used (not its test accuracy)."""
    from mnist_bench.analysis import reproduction

    from .test_regressions import rec

    r = rec(spec=spec, backend=backend, dataset=dataset, profile="seed",
            recipe={"reported_accuracy": reported, "dataset": dataset}, test_accuracy=0.5 if backend == "sklearn" else got,
            **({"split_accuracy": got} if backend == "sklearn" else {}))
    row = reproduction.table([r]).set_index(["spec", "backend"]).loc[(spec, backend)]
    assert row["reproduced"] == pytest.approx(got) and bool(row["within"]) is within
    text = markdown.markdown(report.build([r]))
    words = "within" if within else f"miss by {abs(got - reported) * 100:.2f} points"
    assert re.search(rf"\| {re.escape(spec)} .*\| {backend} .*{re.escape(words)}", text), text


def test_charts_are_points_on_a_log_ratio_axis_with_intervals_only_from_3_runs(monkeypatch, tmp_path):
    from mnist_bench.analysis.stats import Ratio
    from mnist_bench.render import plots

    figs = []
    monkeypatch.setattr(plots, "_save", lambda fig, stem, plt: figs.append(fig) or [stem])
    three = Ratio(2.0, 1.5, 2.7, 3, "higher")
    two = Ratio(1.4, None, None, 2, "few runs")
    plots.ratio_chart([("panel", [("mlp", "jax", 1.0), ("mlp", "torch", three),
                                  ("cnn", "torch", two), ("cnn", "tensorflow", None)])],
                      tmp_path / "c", "ratio", "note")
    (fig,) = figs
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and not ax.patches  # points, no bars on the log axis
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["jax", "torch"]  # no empty entry
    spans = [abs(seg[1][0] - seg[0][0]) for c in ax.collections for seg in c.get_segments()]
    assert [round(s, 6) for s in spans if s > 0] == [1.2]  # only the 3-run ratio has a bar: 1.5-2.7
    assert [t.get_text() for t in ax.get_yticklabels()] == ["mlp", "cnn"]


def test_the_html_report_names_each_machine_and_run():
    from mnist_bench.render import html

    def rec(machine, run, ts):
        return {"machine": {"name": machine, "cpu": {"model": f"{machine} cpu", "cores": 2}},
                "run_id": run, "timestamp": ts, "versions": {"keras": "3"}, "git": {}}

    got = html.machines([rec("cpu-box", "r1", "t1"), rec("h100-box", "r2", "t2"),
                         rec("cpu-box", "r1", "t3")])
    assert [(m["machine"], m["run"]) for m in got] == [("cpu-box", "r1"), ("h100-box", "r2")]
    facts = [dict(m["facts"]) for m in got]
    assert facts[0]["CPU"].startswith("cpu-box cpu") and facts[1]["CPU"].startswith("h100-box cpu")
    assert facts[0]["records"] == "2, t1 to t3" and facts[1]["records"] == "1, t2 to t2"


def test_a_batch_chart_axis_is_set_by_its_points_not_by_one_wide_interval():
    """One interval from 418 to 12 million samples/s no longer flattens every curve: the axis
    reaches a fixed factor past the points, and the cut interval is marked at the edge."""
    from mnist_bench.render import plots

    plt = plots._pyplot()
    fig, ax = plt.subplots()
    ax.set_yscale("log")
    ys, lows, highs = [40_000, 90_000, 100_000], [35_000, 418, 95_000], [45_000, 12_449_717, 105_000]
    ax.errorbar([128, 512, 2048], ys)
    plots._clip_to_points(ax, ys, lows, highs, [128, 512, 2048])
    bottom, top = ax.get_ylim()
    assert bottom == 40_000 / plots.CLIP and top == 100_000 * plots.CLIP
    marks = [line for line in ax.lines if line.get_marker() in ("^", "v")]
    assert sorted(m.get_marker() for m in marks) == ["^", "v"]
    plt.close(fig)


def test_accuracy_curves_are_the_mean_over_runs_with_the_runs_range():
    from mnist_bench.render import plots

    runs = [[{"train_s": 1.0, "test_accuracy": 0.90}, {"train_s": 2.0, "test_accuracy": 0.95}],
            [{"train_s": 3.0, "test_accuracy": 0.92}, {"train_s": 4.0, "test_accuracy": 0.97},
             {"train_s": 5.0, "test_accuracy": 0.98}]]
    xs, ys, lo, hi = plots._mean_curve(runs)
    assert xs == [2.0, 3.0] and ys == pytest.approx([0.91, 0.96])
    assert lo == [0.90, 0.95] and hi == [0.92, 0.97]


def _widest(text: str) -> int:
    return max(len(line) for line in re.sub(r"\x1b\[[0-9;]*m", "", text).splitlines())


def test_report_on_an_80_column_terminal_fits_it():
    """A terminal gets the decision fitted to its width (no Markdown), by default; a pipe gets
    the Markdown tables."""
    import fcntl
    import pty
    import struct
    import sys
    import termios
    import time

    from .conftest import ROOT

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 80, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    proc = subprocess.Popen([sys.executable, "-m", "mnist_bench", "report", "results/cpu-decide-a"],
                            stdin=slave, stdout=slave, stderr=slave, cwd=ROOT, env=env)
    os.close(slave)
    chunks, deadline = [], time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            data = os.read(master, 65536)
        except OSError:  # the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(timeout=max(1, deadline - time.monotonic()))
    os.close(master)
    out = b"".join(chunks).decode("utf-8", "replace").replace("\r", "")
    assert proc.returncode == 0, out
    assert "Which backend" in out and "|:--" not in out and "faster than tensorflow" in out, out
    assert _widest(out) <= 80, out
    piped = run_cli("report", "results/cpu-decide-a")
    assert "|:--" in piped.stdout  # Markdown, as before, where the output is not a terminal


def test_report_text_takes_the_width_it_is_given(monkeypatch, capsys):
    from mnist_bench import cli

    monkeypatch.setenv("COLUMNS", "60")
    assert cli.main(["report", "results/cpu-decide-a", "--format", "text"]) == 0
    out = capsys.readouterr().out
    assert "Which backend" in out and _widest(out) <= 60, out


def test_compare_text_fits_the_terminal_and_keeps_the_verdicts(monkeypatch, capsys):
    """The published replication pair: no regression (TensorFlow's linear_sgd, 1.19x slower by
    point estimate, has an interval holding 1 once its backend's epoch noise is under it, as in
    the report), every cell in a table that fits 80 columns."""
    from mnist_bench import cli

    monkeypatch.setenv("COLUMNS", "80")
    code = cli.main(["compare", "results/cpu-decide-a", "results/cpu-decide-b", "--format", "text"])
    out = capsys.readouterr().out
    assert code == 0 and _widest(out) <= 80, out
    assert "linear_sgd" in out and "Verdicts replicated" in out and "|:--" not in out
