"""Comparisons between runs, the statistics behind them, and the HTML report in a real browser."""

import os
import re
import shutil
import subprocess
import sys

import pytest

from mnist_bench import records, report, stats

from .conftest import ROOT, run_cli


def test_rank_test_calls_ties_and_differences():
    same = [1.00, 1.02, 0.99, 1.01, 1.00, 0.98]
    slower = [1.30, 1.32, 1.29, 1.31, 1.33, 1.30]
    assert stats.verdict(stats.mann_whitney(same, [x + 0.001 for x in same])) == "tied"
    assert stats.verdict(stats.mann_whitney(same, slower)) == "significant"
    assert stats.verdict(stats.mann_whitney(same[:2], slower)) == "not tested"


def test_time_to_target_takes_the_first_epoch_that_reaches_it():
    curve = [{"train_s": 2.0, "test_accuracy": 0.90}, {"train_s": 3.0, "test_accuracy": 0.95},
             {"train_s": 4.0, "test_accuracy": 0.97}]
    assert stats.time_to_target(curve, 0.95) == 3.0
    assert stats.time_to_target(curve, 0.99) is None


def test_compare_a_run_with_itself_passes(smoke_run):
    out = smoke_run[0]
    proc = run_cli("compare", out, out)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 regression(s)" in proc.stderr


def _one_core():
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})


def test_compare_catches_a_real_slowdown(tmp_path):
    """The same cell run on both cores and then pinned to one core: really slower."""
    if len(os.sched_getaffinity(0)) < 2:
        pytest.fail("this test needs two cores to make a real slowdown")
    args = ["run", "--profile", "smoke", "--models", "cnn_3conv", "--backends", "tensorflow",
            "--epochs", "5"]
    fast = run_cli(*args, "--out", tmp_path / "fast")
    assert fast.returncode == 0, fast.stderr
    slow = subprocess.run([sys.executable, "-m", "mnist_bench", *args, "--out", str(tmp_path / "slow")],
                          cwd=ROOT, capture_output=True, text=True, preexec_fn=_one_core, timeout=600)
    assert slow.returncode == 0, slow.stderr
    old = records.load(tmp_path / "fast")[0]["steady_epoch_s"]
    new = records.load(tmp_path / "slow")[0]["steady_epoch_s"]
    proc = run_cli("compare", tmp_path / "fast", tmp_path / "slow", "--max-slowdown", "0.15")
    assert proc.returncode == 1, (old, new, proc.stdout)
    assert re.search(r"cnn_3conv .*slower", proc.stdout)
    # and the other way round it is faster, not a regression
    assert run_cli("compare", tmp_path / "slow", tmp_path / "fast").returncode == 0


def test_parity_and_recommendation_with_repeats(smoke_run):
    recs = smoke_run[2]
    t = report.tidy(recs)
    assert set(t.parity.dropna()) == {"n/a (1 run)"}  # one seed: no spread to judge by
    rec = report.recommend(t)
    assert len(rec) == t[t.backend != "sklearn"].spec.nunique()
    assert set(rec.pick) <= {"tensorflow", "jax", "torch"}


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
});
</script></body>"""


def test_html_report_renders_in_a_headless_browser(smoke_run, tmp_path, chromium):
    out, _, _ = smoke_run
    page = (out / "report.html").read_text()
    assert "<script" not in page  # static and self-contained
    probe = tmp_path / "probe.html"
    probe.write_text(page.replace("</body>", PROBE))
    dom = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run",
         f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=5000", "--dump-dom",
         probe.as_uri()], capture_output=True, text=True, timeout=120).stdout
    images = re.search(r'data-images="([^"]*)"', dom).group(1).split(",")
    assert len(images) == 2 and set(images) == {"true"}  # both charts decoded
    assert int(re.search(r'data-tables="(\d+)"', dom).group(1)) >= 5
    assert int(re.search(r'data-rows="(\d+)"', dom).group(1)) > 30
    for text in ("cnn_3conv", "Which backend", "Machine and versions", "keras"):
        assert text in dom
