"""Bad input: one line that says what was wrong and what is valid, and a non-zero exit."""

import json

import pytest

from .conftest import ROOT, main, run_cli


@pytest.mark.parametrize("args, message", [
    (["--models", "resnet50"], "unknown spec 'resnet50'; valid: linear_sgd, linear_rmsprop"),
    (["--backends", "jax,mxnet"], "unknown backend 'mxnet'; valid: tensorflow, jax, torch"),
    (["--dataset", "cifar10"], "unknown dataset 'cifar10'; valid: mnist, fashion_mnist"),
    (["--profile", "fast"], "unknown profile 'fast'; valid: smoke, quick, seed"),
    (["--device", "tpu"], "unknown device 'tpu'; valid: cpu, gpu, auto"),
    (["--modes", "turbo"], "unknown mode 'turbo'; valid: default, tuned"),
    (["--models", "nowhere/spec.py:build"], "spec file nowhere/spec.py does not exist"),
    (["--models", "tests/faulty_specs.py:missing"],
     "spec file tests/faulty_specs.py does not define 'missing' (it defines: "),
    (["--repeats", "0"], "argument --blocks/--repeats: '0' is out of range; valid: a finite integer >= 1"),
    (["--blocks", "0"], "argument --blocks/--repeats: '0' is out of range; valid: a finite integer >= 1"),
    (["-k", "mlp and ("], "-k 'mlp and (' is not a selection ("),
    (["-k", "resnet"], "-k 'resnet' selects no cell of the matrix; cell labels look like "),
    (["--machine", " "], "--machine needs a name"),
    (["--epochs", "1"], "argument --epochs: '1' is out of range; valid: a finite integer >= 2"),
    (["--epochs", "three"], "argument --epochs: 'three' is not an integer"),
    (["--seed", "-1"], "argument --seed: '-1' is out of range; valid: a finite integer >= 0 and <= 4294967295"),
    (["--cell-timeout", "0"], "argument --cell-timeout: '0' is out of range; valid: a finite number > 0"),
    (["--cell-timeout", "nan"], "argument --cell-timeout: 'nan' is out of range"),
    (["--models", ""], "argument --models/--specs: '' is not a comma-separated list of names"),
    (["--backends", "jax,"], "argument --backends: 'jax,' is not a comma-separated list"),
    (["--backends", "jax,jax"], "argument --backends: 'jax,jax' names jax more than once"),
    (["--resume"], "--resume needs --out FOLDER"),
    (["--batch-sizes", "128,abc"], "argument --batch-sizes: 'abc' is not a batch size; valid: "
                                   "comma-separated whole numbers from 1 to 1048576, e.g. 128,512"),
    (["--batch-sizes", "0,128"], "argument --batch-sizes: 0 is not a batch size"),
    (["--batch-sizes", "128,128"], "argument --batch-sizes: '128,128' names 128 more than once"),
    (["--batch-sizes", "4000000"], "argument --batch-sizes: 4000000 is not a batch size; valid: comma-separated "
                                "whole numbers from 1 to 1048576"),
    (["--lr-scaling", "linear"], "--lr-scaling needs --batch-sizes"),
    (["--lr-scaling", "cubic", "--batch-sizes", "256"], "argument --lr-scaling: invalid choice: 'cubic'"),
    (["--batch-sizes", "256", "--until-decided"], "--batch-sizes cannot be combined with --until-decided"),
    (["--budget", "5"], "--budget needs --until-decided"),
    (["--until-decided", "--repeats", "3"], "--blocks cannot be given with --until-decided"),
    (["--margin", "0"], "argument --margin: '0' is out of range"),
    (["--until-decided", "--budget", "-1"], "argument --budget: '-1' is out of range"),
    (["--until-decided", "--backends", "jax", "--models", "mlp_512,sgd_classifier"],
     "--until-decided: nothing to compare, each spec has one variant here"),
])
def test_bad_run_input(args, message, tmp_path, no_work, monkeypatch):
    """In this process (the command line's checks; test_bad_input_exits_2_from_a_real_process
    keeps one real process); a check that let the input through would stop at the stand-in
    executor (``no_work``) and fail here."""
    monkeypatch.chdir(ROOT)  # the spec paths above are the checkout's
    out = [] if "--resume" in args else ["--out", tmp_path / "o"]
    code, _, err, _ = main("run", *args, *out, monkeypatch=monkeypatch)
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("mnist-bench: error: ") and message in lines[0], lines[0]
    assert "Traceback" not in err
    assert not (tmp_path / "o").exists()  # nothing started: not even the results folder


def test_bad_input_exits_2_from_a_real_process(tmp_path):
    proc = run_cli("run", "--models", "resnet50", "--out", tmp_path / "o")
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.strip().splitlines() == [
        f"mnist-bench: error: unknown spec 'resnet50'; valid: {proc.stderr.split('valid: ')[1].strip()}"]
    assert not (tmp_path / "o").exists()


def test_bad_data_dir(tmp_path):
    proc = run_cli("run", "--models", "mlp_512", "--data-dir", tmp_path, "--out", tmp_path / "o")
    assert proc.returncode == 2
    assert "holds neither mnist.npz nor the four IDX files" in proc.stderr


def test_list_shows_every_seed_recipe():
    proc = run_cli("list")
    assert proc.returncode == 0
    for line in ("linear_sgd", "sgd lr=0.001", "fmnist_mlp_50x2_dropout", "fashion_mnist", "0.9912",
                 "SGDClassifier(max_iter=200)", "28x28x1", "target acc"):
        assert line in proc.stdout
    import json

    from mnist_bench import specs

    got = json.loads(run_cli("list", "--json").stdout)
    assert [g["spec"] for g in got] == list(specs.BUILTIN)
    assert {g["spec"]: g["target_accuracy"] for g in got} == \
        {n: s.recipe.target_accuracy for n, s in specs.BUILTIN.items()}


def test_every_option_says_what_it_does():
    import argparse

    from mnist_bench.cli.options import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, p in sub.choices.items():
        for action in p._actions:
            if action.option_strings or action.dest not in ("command",):
                assert action.help, f"{name} {action.option_strings or action.dest} has no help text"


PORTABLE = r"""
import os, sys
# what Windows lacks: POSIX file locks, resource limits, process groups
sys.modules["fcntl"] = None
sys.modules["resource"] = None
del os.killpg
import mnist_bench.cli
from mnist_bench.cli import main
sys.exit(main(["report", sys.argv[1]]))
"""


def test_report_runs_where_posix_only_modules_are_missing(tmp_path):
    """``import mnist_bench.cli`` and ``report`` need neither fcntl (file locks go through
    filelock), nor resource, nor os.killpg (only a run's worker handling uses them)."""
    import subprocess
    import sys

    path = _store(tmp_path / "s")
    proc = subprocess.run([sys.executable, "-c", PORTABLE, str(path)], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "mlp_512" in proc.stdout and "jax" in proc.stdout


def _store(path, **change):
    from mnist_bench.record import assemble, store
    from mnist_bench.settings import Cell

    rec = assemble.record((Cell("mlp_512", "jax", "mnist")), status="ok",
                      test_accuracy=0.97, epoch_s=[2.0, 1.0, 1.0], train_samples=60000, **change)
    store.append(path, rec)
    return path


@pytest.mark.parametrize("args, message", [
    (["compare", "{s}", "{s}", "--max-slowdown", "-1"],  # was a ZeroDivisionError traceback
     "argument --max-slowdown: '-1' is out of range; valid: a finite number >= 0"),
    (["compare", "{s}", "{s}", "--max-accuracy-drop", "2"], "'2' is out of range; valid: a finite number >= 0 and <= 1"),
    (["report", "{s}", "--target", "cnn_3conv=0.98"],
     "--target 'cnn_3conv=0.98': no records of spec 'cnn_3conv'; specs in these records: mlp_512"),
    (["report", "{s}", "--target", "mlp_512=1.5"], "the accuracy must be in (0, 1]"),
    (["report", "{s}", "--note", "jax:tpu=x"], "expected BACKEND:DEVICE=TEXT"),
    (["report", "{s}", "--html"], "--html needs --out FOLDER"),
    (["report", "{s}/nowhere"], "nowhere does not exist; valid: a result folder"),
    (["bench", "--backends", "jax,mxnet"], "unknown backend 'mxnet'"),
    (["compare", "{s}"], "compare takes OLD and NEW (two paths), not 1"),
    (["compare", "--old", "{s}"], "compare needs both sides: OLD NEW, or --old PATH and --new PATH"),
    (["frobnicate"], "invalid choice: 'frobnicate'"),
])
def test_bad_report_compare_and_bench_input(args, message, tmp_path):
    store = _store(tmp_path / "s")
    proc = run_cli(*[a.format(s=store) for a in args])
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mnist-bench: error: "), proc.stderr
    assert message in lines[0], lines[0]


def test_an_unexpected_error_is_one_line_and_debug_shows_the_traceback(tmp_path, monkeypatch, capsys):
    from mnist_bench import cli
    from mnist_bench.cli import tools

    def broken(args):
        raise KeyError("something the code did not expect")

    monkeypatch.setattr(tools, "cmd_list", broken)
    assert cli.main(["list"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["mnist-bench: internal error in 'list': KeyError: 'something the code did not "
                   "expect' (run with --debug for the traceback)"]
    with pytest.raises(KeyError):
        cli.main(["--debug", "list"])
    with pytest.raises(KeyError):
        cli.main(["list", "--debug"])
    monkeypatch.setenv("MNIST_BENCH_DEBUG", "1")
    with pytest.raises(KeyError):
        cli.main(["list"])


@pytest.mark.parametrize("name, content, words", [
    ("records.jsonl", '{"hello": "world"}\n', "is not a mnist-bench record"),
    ("other.json", json.dumps({"benchmarks": [{"name": "x", "extra_info": {}}]}),
     "holds no mnist-bench benchmarks"),
    ("x.json", '{"a": 1}', "is not a pytest-benchmark JSON file (no 'benchmarks' list)"),
    ("README.md", "# a project\n", "is neither a record store nor a pytest-benchmark file; valid:"),
])
def test_report_refuses_a_file_that_holds_no_records_in_one_line(tmp_path, capsys, name, content, words):
    from mnist_bench import cli

    bogus = tmp_path / name
    bogus.write_text(content)
    assert cli.main(["report", str(bogus)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(bogus) in err[0] and words in err[0], err


def test_results_folder_that_cannot_be_written(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    proc = run_cli("run", "--models", "mlp_512", "--out", blocker / "out")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"mnist-bench: error: --out {blocker / 'out'}: not a folder ({blocker} is a file); "
        "valid: a folder, new or existing, that you can write to"]


@pytest.mark.slow
def test_doctor_reports_backends_devices_and_data(mnist, fashion):
    proc = run_cli("doctor", timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    from mnist_bench.measure import environment

    kind = "gpu" if environment.gpus() else "cpu"  # what each backend sees here
    for backend in ("tensorflow", "jax", "torch"):
        assert f"  {backend:<11} " in proc.stdout
    assert f"-> {kind}: " in proc.stdout
    assert "mnist          verified" in proc.stdout and "fashion_mnist  verified" in proc.stdout
    doc = json.loads(run_cli("doctor", "--json", timeout=600).stdout)
    assert doc["problems"] == 0 and set(doc["datasets"]) == {"mnist", "fashion_mnist"}
    assert all(doc["backends"][b]["device"].startswith(kind) for b in ("tensorflow", "jax", "torch"))


@pytest.mark.slow
def test_a_terminal_gets_a_live_progress_display(tmp_path):
    """On a terminal (a real pty): one live line with the cell, the count of cells, the elapsed
    time and an estimate of the time left; plain lines are for logs (the other tests)."""
    import os
    import pty
    import sys

    from .conftest import ROOT

    pid, fd = pty.fork()
    if pid == 0:  # the child: mnist-bench on a terminal
        os.chdir(ROOT)
        os.environ.pop("TTY_COMPATIBLE", None)
        os.environ["COLUMNS"] = "80"  # a terminal of 80 columns
        os.execv(sys.executable, [sys.executable, "-m", "mnist_bench", "run", "--profile", "smoke",
                                  "--models", "sgd_classifier", "--repeats", "2", "--out",
                                  str(tmp_path / "o")])
    out = b""
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    _, status = os.waitpid(pid, 0)
    import re

    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", out.decode(errors="replace"))  # colours, cursor
    assert os.waitstatus_to_exitcode(status) == 0, text[-2000:]
    assert "2/2 cells" in text and "left" in text, text[-2000:]
    lines = [line for line in text.replace("\r", "\n").splitlines() if line.strip()]
    live = [line for line in lines if " cells " in line and "0:00:" in line]  # count and time whole
    assert live and max(len(line) for line in live) <= 80, max(live, key=len)
    assert all(re.search(r"\d+/2 cells +0:00:\d\d", line) for line in live), live[-3:]
    assert "[2/2] sgd_classifier/sklearn/mnist/cpu #2: ok: test acc" in text
    assert "(run elapsed" not in text  # the plain-line form is for logs only


@pytest.mark.slow
def test_machine_names_the_machine_in_records_and_tables(tmp_path):
    import json

    out = tmp_path / "named"
    proc = run_cli("run", "--profile", "smoke", "--models", "sgd_classifier", "--machine", "box-1",
                   "-k", "sklearn", "--out", out)
    assert proc.returncode == 0, proc.stderr[-2000:]
    (rec,) = [json.loads(line) for line in (out / "records.jsonl").read_text().splitlines()]
    assert rec["machine"]["name"] == "box-1"
    assert json.loads((out / "run.json").read_text())["machine"] == "box-1"
    assert "box-1" in (out / "tables.md").read_text()
