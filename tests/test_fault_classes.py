"""The fault classes, each walked over every command and option it applies to (docs/usage.md,
"When something is wrong"): numbers at their extremes, paths of the wrong kind, environment
variables in every spelling, modules that shadow, nothing silently substituted, every wait
bounded, tracebacks only when asked.

Most cases need no training: the command line runs in this process, and an executor that is
never meant to be reached raises ``Reached``, so a valid input is seen getting to the work and a
bad one is seen stopping before it, in one line, with exit status 2.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from mnist_bench import cli, envvars, imports, settings

from .conftest import Reached, main, refused  # the fixtures stop_at_work and no_work: conftest's
from .test_regressions import rec, write

ROOT = Path(__file__).resolve().parent.parent
HUGE, TINY = "1e308", "1e-300"
EXTREMES = [HUGE, TINY, "0", "-1", "nan", "inf", "-inf", "abc", "", "9" * 40, "0x10", "1e400"]


# ---- 1. numbers at their extremes --------------------------------------------------------

RUN_NUMBERS = ["--epochs", "--seed", "--blocks", "--order-seed", "--cell-timeout", "--budget",
               "--margin"]


@pytest.mark.parametrize("option", RUN_NUMBERS)
@pytest.mark.parametrize("value", EXTREMES)
def test_a_run_number_at_an_extreme_is_refused_in_one_line_or_reaches_work_in_range(
        option, value, tmp_path, no_work, monkeypatch):
    extra = ["--until-decided"] if option == "--budget" else []
    code, _, err, cells = main("run", "--models", "mlp_512", "--backends", "jax,torch", "--out",
                               tmp_path / "o", *extra, f"{option}={value}", monkeypatch=monkeypatch)
    if code != "reached":
        refused(code, err, option.split("=")[0])
        return
    rs = json.loads((tmp_path / "o" / "run.json").read_text())
    for cell in cells:  # what the run would do with it is within what the platform can do
        assert 0 <= cell.seed <= settings.MAX_SEED
        assert cell.epochs is None or 2 <= cell.epochs <= settings.MAX_EPOCHS
    timeout = rs.get("cell_timeout_s")
    if timeout is not None:
        assert threading.Lock().acquire(timeout=timeout)  # OverflowError beyond the platform's
    if rs.get("budget_min") is not None:
        assert threading.Lock().acquire(timeout=rs["budget_min"] * 60)


@pytest.mark.parametrize("argv", [
    ["--seed", str(settings.MAX_SEED), "--blocks", "2"],
    ["--seed", str(settings.MAX_SEED - 5), "--until-decided"],
])
def test_every_blocks_seed_fits_or_the_seed_is_refused(argv, tmp_path, no_work, monkeypatch):
    code, _, err, _ = main("run", "--models", "mlp_512", "--out", tmp_path / "o", *argv,
                           monkeypatch=monkeypatch)
    refused(code, err, "--seed", str(settings.MAX_SEED))


def test_the_largest_waits_accepted_are_waits_the_platform_can_make():
    """--cell-timeout and --budget stop at a week: a longer wait overflows Python's clock."""
    import queue

    for seconds in (settings.MAX_CELL_TIMEOUT_S, settings.MAX_BUDGET_MIN * 60):
        assert threading.Lock().acquire(timeout=seconds)
        with pytest.raises(queue.Empty):  # the wait of a cell's output line, with nothing coming
            queue.Queue().get(timeout=min(seconds, 0.01))
    with pytest.raises(OverflowError):
        threading.Lock().acquire(timeout=1e308)


@pytest.mark.parametrize("command,option", [
    ("report", "--margin"), ("compare", "--margin"), ("compare", "--max-slowdown"),
    ("compare", "--max-accuracy-drop"), ("compare", "--max-overhead-growth")])
@pytest.mark.parametrize("value", EXTREMES)
def test_a_report_or_compare_number_at_an_extreme_is_refused_or_judged(command, option, value,
                                                                     tmp_path, monkeypatch):
    store = write(tmp_path / "s", [rec(backend=b, block=k) for b in ("jax", "torch") for k in range(3)])
    sides = [store] if command == "report" else [store, store]
    code, _, err, _ = main(command, *sides, f"{option}={value}", monkeypatch=monkeypatch)
    if code == 2:
        refused(code, err, option)
    else:
        assert code == 0 and "internal error" not in err, err


@pytest.mark.parametrize("value", ["nan", "2", "0", "-0.5", "abc", "", "1e308"])
def test_a_target_accuracy_out_of_range_is_refused(value, tmp_path, monkeypatch):
    store = write(tmp_path / "s", [rec(block=k) for k in range(2)])
    code, _, err, _ = main("report", store, "--target", f"mlp_512={value}", monkeypatch=monkeypatch)
    refused(code, err, "--target")


# ---- 2. paths of the wrong kind ------------------------------------------------------------

def _paths(tmp_path):
    f = tmp_path / "a-file"
    f.write_text("x\n")
    for name in ("records.jsonl", "run.json", "tables.md", "report.html"):
        (tmp_path / f"holds-{name}" / name).mkdir(parents=True)
    (tmp_path / "empty").mkdir()
    return f


@pytest.mark.parametrize("case,argv,words", [
    ("out is a file", ["run", "--out", "{f}"], ["--out", "not a folder"]),
    ("out under a file", ["run", "--out", "{f}/sub"], ["--out", "is a file"]),
    ("records.jsonl is a folder", ["run", "--out", "{t}/holds-records.jsonl"], ["records.jsonl", "not a file"]),
    ("run.json is a folder", ["run", "--out", "{t}/holds-run.json"], ["run.json", "not a file"]),
    ("tables.md is a folder", ["run", "--out", "{t}/holds-tables.md"], ["tables.md", "not a file"]),
    ("data-dir is a file", ["run", "--data-dir", "{f}", "--out", "{t}/o"], ["--data-dir", "is a file"]),
    ("data-dir is missing", ["run", "--data-dir", "{t}/none", "--out", "{t}/o"], ["does not exist"]),
    ("data-dir is empty", ["run", "--data-dir", "{t}/empty", "--out", "{t}/o"], ["holds neither"]),
    ("spec file is missing", ["run", "--models", "{t}/none.py:build", "--out", "{t}/o"], ["does not exist"]),
    ("report a file", ["report", "{f}"], ["neither a record store"]),
    ("report nothing there", ["report", "{t}/none"], ["does not exist"]),
    ("report a folder of nothing", ["report", "{t}/empty"], ["holds neither"]),
    ("report --out a file", ["report", "{s}", "--out", "{f}"], ["--out", "not a folder"]),
    ("report --out under a file", ["report", "{s}", "--out", "{f}/x", "--html"], ["--out", "is a file"]),
    ("report --out holds report.html as a folder", ["report", "{s}", "--out", "{t}/holds-report.html", "--html"], ["report.html"]),
    ("compare a file", ["compare", "{f}", "{s}"], ["neither a record store"]),
    ("compare nothing there", ["compare", "{s}", "{t}/none"], ["does not exist"]),
    ("bench --out a file", ["bench", "--backends", "jax", "--out", "{f}"], ["--out", "not a folder"]),
])
def test_a_path_of_the_wrong_kind_is_refused_before_any_work(case, argv, words, tmp_path,
                                                             stop_at_work, monkeypatch):
    f = _paths(tmp_path)
    s = write(tmp_path / "store", [rec(block=k) for k in range(2)])
    argv = [a.format(f=f, t=tmp_path, s=s) for a in argv]
    if argv[0] == "run" and "--models" not in argv:
        argv += ["--models", "mlp_512", "--backends", "jax", "--profile", "smoke"]
    code, _, err, _ = main(*argv, monkeypatch=monkeypatch)
    refused(code, err, *words)


def test_a_folder_that_cannot_be_written_is_refused_before_any_work(tmp_path, no_work, monkeypatch):
    """A read-only folder (simulated: its probe write fails as it would for a user without the
    permission; the suite runs as root in CI, for whom no mode bit refuses a write)."""
    real = Path.write_text

    def denied(self, *a, **k):
        if self.name.startswith(".write-test"):
            raise PermissionError(13, "Permission denied")
        return real(self, *a, **k)

    monkeypatch.setattr(Path, "write_text", denied)
    code, _, err, _ = main("run", "--models", "mlp_512", "--out", tmp_path / "ro", monkeypatch=monkeypatch)
    refused(code, err, "--out", "Permission denied")


def test_a_full_disk_while_writing_the_tables_keeps_every_record(tmp_path, monkeypatch):
    """report --out on a full disk: one line, and the store is untouched."""
    from mnist_bench.render import files

    s = write(tmp_path / "s", [rec(block=k) for k in range(2)])
    before = (tmp_path / "s" / "records.jsonl").read_bytes()

    def full(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(files, "write_tables", full)
    code, _, err, _ = main("report", s, "--out", s, monkeypatch=monkeypatch)
    refused(code, err, "No space left on device")
    assert (tmp_path / "s" / "records.jsonl").read_bytes() == before


# ---- 3. environment variables in every spelling --------------------------------------------

YES = ["1", "true", "True", "YES", "yes", "on", "On", " y "]
NO = ["", "0", "false", "False", "no", "NO", "off", "n"]
NEITHER = ["maybe", "2", "-1", "enable", "truee", "nan"]


@pytest.mark.parametrize("name", [envvars.DEBUG, envvars.NO_DOWNLOAD])
def test_a_yes_no_variable_reads_every_spelling_alike_or_is_refused(name):
    for word in YES:
        assert envvars.flag(name, {name: word}) is True, word
    for word in NO:
        assert envvars.flag(name, {name: word}) is False, word
    assert envvars.flag(name, {}) is False
    for word in NEITHER:
        with pytest.raises(envvars.EnvError, match=f"{name}='{word}' is not a yes/no value"):
            envvars.flag(name, {name: word})


@pytest.mark.parametrize("word", NO)
def test_debug_set_to_a_no_word_gives_one_line_for_an_internal_error(word, monkeypatch):
    """MNIST_BENCH_DEBUG=false used to turn tracebacks on (anything but '' and '0' did)."""
    from mnist_bench.cli import tools

    monkeypatch.setattr(tools, "cmd_list", lambda args: 1 / 0)
    code, _, err, _ = main("list", env={envvars.DEBUG: word}, monkeypatch=monkeypatch)
    assert code == 1 and err.count("\n") == 1 and "internal error in 'list'" in err, err
    assert "Traceback" not in err


@pytest.mark.parametrize("word", YES)
def test_debug_set_to_a_yes_word_shows_the_error_itself(word, monkeypatch):
    from mnist_bench.cli import tools

    monkeypatch.setattr(tools, "cmd_list", lambda args: 1 / 0)
    monkeypatch.setenv(envvars.DEBUG, word)
    with pytest.raises(ZeroDivisionError):
        cli.main(["list"])


@pytest.mark.parametrize("command", [["list"], ["report", "x"], ["run"], ["doctor"]])
@pytest.mark.parametrize("word", NEITHER)
def test_a_debug_value_that_is_neither_is_refused_by_every_command(command, word, monkeypatch):
    code, _, err, _ = main(*command, env={envvars.DEBUG: word}, monkeypatch=monkeypatch)
    refused(code, err, envvars.DEBUG, "yes/no")


@pytest.mark.parametrize("word", YES)
def test_no_download_in_any_yes_spelling_skips_the_download(word, monkeypatch):
    """MNIST_BENCH_NO_DOWNLOAD=yes (or true, on) used to be ignored: only "1" counted."""
    from mnist_bench.data import sources

    monkeypatch.setenv(envvars.NO_DOWNLOAD, word)
    monkeypatch.setattr(sources, "_download", lambda *a, **k: pytest.fail("downloaded"))
    with pytest.raises(sources.Unavailable, match="skipped"):
        sources.from_keras_download("mnist")


@pytest.mark.parametrize("value", ["abc", "0", "-5", "nan", "inf", "1e308", "3601"])
@pytest.mark.parametrize("command", [["run", "--models", "mlp_512"], ["doctor"], ["bench", "--backends", "jax"]])
def test_a_download_timeout_out_of_range_is_refused_before_any_work(command, value, tmp_path, no_work,
                                                                   monkeypatch):
    code, _, err, _ = main(*command, "--out", tmp_path / "o", env={envvars.TIMEOUT: value},
                           monkeypatch=monkeypatch) if command[0] != "doctor" else \
        main(*command, env={envvars.TIMEOUT: value}, monkeypatch=monkeypatch)
    refused(code, err, envvars.TIMEOUT)


def test_a_blank_machine_name_or_commit_is_unset():
    assert envvars.text(envvars.MACHINE, {envvars.MACHINE: "  "}) is None
    assert envvars.text(envvars.GIT_COMMIT, {envvars.GIT_COMMIT: ""}) is None
    assert envvars.text(envvars.MACHINE, {envvars.MACHINE: " box "}) == "box"


# ---- 4. a working directory that shadows ---------------------------------------------------

SHADOWS = ["keras", "jax", "numpy", "torch", "tensorflow", "sklearn", "pandas", "rich"]


@pytest.mark.parametrize("name", SHADOWS)
@pytest.mark.parametrize("form", ["module", "package"])
def test_a_shadowing_module_on_pythonpath_is_named_before_any_work(name, form, tmp_path, no_work,
                                                                   monkeypatch):
    folder = tmp_path / "mine"
    (folder / name).mkdir(parents=True)
    target = folder / (f"{name}.py" if form == "module" else f"{name}/__init__.py")
    target.write_text("raise SystemExit('the shadow was imported')\n")
    code, _, err, _ = main("run", "--models", "mlp_512", "--out", tmp_path / "o",
                           env={"PYTHONPATH": str(folder)}, monkeypatch=monkeypatch)
    refused(code, err, str(target), f"'{name}'")


def test_a_folder_named_like_a_package_does_not_count(tmp_path, monkeypatch):
    """A plain folder called jax/ (a namespace portion) loses to the installed package."""
    (tmp_path / "jax").mkdir()
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    assert imports.shadows(path=[], environ={"PYTHONPATH": str(tmp_path)}) == []


@pytest.mark.slow
def test_a_keras_py_where_the_user_runs_never_reaches_a_worker(tmp_path):
    """``mnist-bench run`` from a folder holding keras.py and numpy.py: the cell trains on the
    installed frameworks (before: 'worker exited with code 1'); ``python -m mnist_bench`` there,
    which would import them itself, is refused naming the file."""
    for name in ("keras", "numpy"):
        (tmp_path / f"{name}.py").write_text("raise SystemExit('the shadow was imported')\n")
    script = Path(sys.executable).with_name("mnist-bench")
    out = tmp_path / "out"
    proc = subprocess.run([str(script), "run", "--profile", "smoke", "--models", "mlp_512",
                           "--backends", "jax", "--out", str(out)], cwd=tmp_path,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    recs = [json.loads(x) for x in (out / "records.jsonl").read_text().splitlines()]
    assert [r["status"] for r in recs] == ["ok"]
    proc = subprocess.run([sys.executable, "-m", "mnist_bench", "list"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert "keras.py" in proc.stderr or "numpy.py" in proc.stderr


# ---- 5. nothing silently substituted -------------------------------------------------------

def test_a_seed_profile_run_with_other_epochs_is_not_judged_against_its_source(tmp_path, monkeypatch):
    recipe = {"dataset": "mnist", "epochs": 20, "reported_accuracy": 0.98}
    runs = [rec(block=k, profile="seed", epochs=epochs, recipe=recipe, test_accuracy=0.9)
            for k in range(2) for epochs in (3,)]
    store = write(tmp_path / "s", runs)
    code, out, err, _ = main("report", store, "--format", "json", monkeypatch=monkeypatch)
    assert code == 0, err
    from mnist_bench.analysis import reproduction

    assert reproduction.table([json.loads(json.dumps(r)) for r in runs]).empty
    same = [{**r, "epochs": None} for r in runs]
    assert len(reproduction.table(same)) == 1  # the source's own epochs are judged


# ---- 6. every wait bounded -----------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_ray_address_where_nothing_listens_is_one_line_at_once(tmp_path, monkeypatch):
    t0 = time.monotonic()
    code, _, err, _ = main("run", "--models", "mlp_512", "--executor", "ray", "--ray-address",
                           f"127.0.0.1:{_free_port()}", "--out", tmp_path / "o", monkeypatch=monkeypatch)
    refused(code, err, "--ray-address", "nothing answers")
    assert time.monotonic() - t0 < 30


def test_a_ray_address_that_never_answers_is_one_line_within_the_connect_limit(tmp_path):
    """Something listens but is not a Ray head (Ray itself would retry for ever)."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        code = ("import sys; from mnist_bench.execute import ray as r; r.CONNECT_TIMEOUT_S = 2; "
                "from mnist_bench import cli; sys.exit(cli.main(sys.argv[1:]))")
        t0 = time.monotonic()
        proc = subprocess.run([sys.executable, "-c", code, "run", "--models", "mlp_512",
                               "--executor", "ray", "--ray-address", f"127.0.0.1:{port}",
                               "--out", str(tmp_path / "o")], capture_output=True, text=True,
                              timeout=120, cwd=ROOT)
    took = time.monotonic() - t0
    mine = [x for x in proc.stderr.splitlines() if x.startswith("mnist-bench")]
    assert proc.returncode == 2 and len(mine) == 1 and "no answer from a Ray head within 2 s" in mine[0], proc.stderr
    assert "Traceback" not in proc.stderr
    assert took < 60


def test_a_node_that_never_answers_fails_its_cells_after_their_limit(tmp_path, monkeypatch):
    """The Ray driver waits at most each cell's limit and a grace for an answer; then that cell
    and the node's others are recorded failed, so a dead head or node cannot hang the run."""
    from mnist_bench.execute import ray as ray_exec
    from mnist_bench.execute.sink import Sink
    from mnist_bench.record import store

    class SilentRay:
        class exceptions:
            RayError = RuntimeError

        def wait(self, refs, num_returns, timeout):
            time.sleep(min(timeout, 0.05))
            return [], refs

        def cancel(self, ref, force):
            raise ConnectionError("the head is gone")

    monkeypatch.setattr(ray_exec, "ANSWER_GRACE_S", 0.2)
    node = ray_exec.Node("n1", "box", "1.2.3.4", "box", {"CPU": 2})
    cells = [settings.Cell("mlp_512", b, "mnist", node="box") for b in ("jax", "torch")]
    driver = object.__new__(ray_exec.Driver)
    driver.ray, driver.facts, driver.inflight, driver.retried = SilentRay(), {"box": {}}, {}, set()
    driver.timeout_for = lambda cell: 0.1
    driver.sink = Sink(tmp_path, {"run_id": "r", "order_seed": 0})
    driver.on_start, driver.say = (lambda cell: None), (lambda text: None)
    driver.rs = type("RS", (), {"cells_per_node": 1, "nodes": ("box",)})()
    driver.queues = {"box": __import__("collections").deque(cells[1:])}
    driver.inflight["ref"] = (cells[0], node, time.monotonic() + 0.1 + ray_exec.ANSWER_GRACE_S)
    t0 = time.monotonic()
    while driver.inflight:
        ready, _ = driver.ray.wait(list(driver.inflight), num_returns=1, timeout=driver.wait_s())
        if not ready:
            driver.silent()
    assert time.monotonic() - t0 < 5
    recs = store.load(tmp_path)
    assert [(r["backend"], r["status"]) for r in recs] == [("jax", "failed"), ("torch", "failed")]
    assert "gave no answer" in recs[0]["reason"] and "--resume" in recs[1]["reason"]


def test_a_download_that_trickles_ends_within_its_whole_limit(tmp_path, monkeypatch):
    """A server that sends a byte at a time, never silent for the timeout, still ends."""
    import http.server

    from mnist_bench.data import sources

    class Trickle(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", "1000000")
            self.end_headers()
            with contextlib.suppress(OSError):
                for _ in range(1000):
                    self.wfile.write(b"x")
                    self.wfile.flush()
                    time.sleep(0.1)

        def log_message(self, *a):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Trickle)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv(envvars.TIMEOUT, "1")
    monkeypatch.setattr(sources, "WHOLE_DOWNLOAD", 2)
    t0 = time.monotonic()
    try:
        with pytest.raises(sources.Unavailable, match="not complete after 2 s"):
            sources._download(f"http://127.0.0.1:{server.server_address[1]}/mnist.npz",
                              tmp_path / "d" / "mnist.npz", "0" * 64)
    finally:
        server.shutdown()
    assert time.monotonic() - t0 < 20


# ---- 8. debug output only when asked -------------------------------------------------------

@pytest.mark.parametrize("command", [["list"], ["report", "x"]])
def test_ctrl_c_outside_a_run_is_one_line(command, monkeypatch):
    from mnist_bench.cli import report, tools

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(tools, "cmd_list", interrupted)
    monkeypatch.setattr(report, "cmd_report", interrupted)
    code, _, err, _ = main(*command, monkeypatch=monkeypatch)
    assert code == 130 and err == "mnist-bench: interrupted\n"


# ---- every class at once: generated command lines -------------------------------------------

def _options():
    """Every option of every command, from the parser itself (a new option is walked too)."""
    from mnist_bench.cli import options

    parser = options.build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    return {name: [a for a in sp._actions if a.option_strings and a.dest not in ("help", "debug")]
            for name, sp in sub.choices.items()}


@pytest.fixture(scope="module")
def grammar(tmp_path_factory):
    t = tmp_path_factory.mktemp("grammar")
    f = t / "a-file"
    f.write_text("x\n")
    store = write(t / "store", [rec(backend=b, block=k) for b in ("jax", "torch") for k in range(3)])
    (t / "empty").mkdir()
    return {"paths": [str(f), store, str(t / "empty"), str(t / "none"), str(f / "under")],
            "store": store}


VALUES = EXTREMES + ["mlp_512", "jax", "torch,jax", "cpu", "gpu", "smoke", "default,tuned",
                     "keras,native", "128,512", "linear", "mlp_512=0.97", "torch:gpu=none",
                     "1", "2", "0.05", "md", "json", "ray", "local", "h100=1", "a b", "-k", "--"]


def test_no_generated_command_line_reaches_an_internal_error(grammar, no_work, monkeypatch, tmp_path):
    """Command lines drawn from every option of every command, with extreme, wrong-kind and
    valid values: each ends in a one-line error (exit 2), or gets to its work, or succeeds;
    never "internal error", never a traceback. ``bench`` and ``doctor`` are walked up to the
    point where they would start their processes."""
    from hypothesis import HealthCheck, given, settings as hsettings
    from hypothesis import strategies as st

    monkeypatch.setattr(subprocess, "call", lambda *a, **k: (_ for _ in ()).throw(Reached([])))
    monkeypatch.setattr("mnist_bench.doctor.main", lambda **_: (_ for _ in ()).throw(Reached([])))
    monkeypatch.setattr("mnist_bench.execute.ray.choose_nodes", lambda *a: (_ for _ in ()).throw(Reached([])))
    table = _options()
    counter = iter(range(10 ** 6))

    @hsettings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
    @given(data=st.data())
    def walk(data):
        command = data.draw(st.sampled_from(sorted(table)))
        actions = data.draw(st.lists(st.sampled_from(table[command]), max_size=4, unique_by=id)) \
            if table[command] else []
        argv = [command]
        if command == "report":
            argv += data.draw(st.lists(st.sampled_from(grammar["paths"]), min_size=1, max_size=2))
        if command == "compare":
            argv += data.draw(st.lists(st.sampled_from(grammar["paths"]), min_size=0, max_size=3))
        for action in actions:
            opt = data.draw(st.sampled_from(action.option_strings))
            if action.nargs == 0:
                argv.append(opt)
            elif action.dest == "out" or action.dest in ("data_dir", "suite"):
                argv += [opt, data.draw(st.sampled_from(grammar["paths"] + [str(tmp_path / f"o{next(counter)}")]))]
            elif action.dest in ("old", "new"):
                argv += [opt, data.draw(st.sampled_from(grammar["paths"]))]
            elif action.nargs is None:
                argv.append(f"{opt}={data.draw(st.sampled_from(VALUES))}")
        if command == "run" and "--out" not in " ".join(argv):
            argv += ["--out", str(tmp_path / f"o{next(counter)}")]
        code, _, err, _ = main(*argv, monkeypatch=monkeypatch)
        assert "internal error" not in err and "Traceback" not in err, (argv, err)
        if code == 2:
            lines = err.strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith("mnist-bench: error: "), (argv, err)

    walk()


def test_a_retried_ray_cell_is_counted_once_in_the_progress(tmp_path, monkeypatch):
    """A cell whose Ray task failed on a live node is sent again without a second start: the
    progress count ([n/total]) does not overshoot."""
    from mnist_bench.execute import ray as ray_exec
    from mnist_bench.execute.sink import Sink

    node = ray_exec.Node("n1", "box", "1.2.3.4", "box", {"CPU": 2})
    cell = settings.Cell("mlp_512", "jax", "mnist", node="box")
    driver = object.__new__(ray_exec.Driver)
    driver.facts, driver.inflight, driver.retried, driver.resources = {"box": {}}, {}, set(), {}
    driver.timeout_for = lambda c: 10.0
    driver.sink = Sink(tmp_path, {"run_id": "r", "order_seed": 0})
    started = []
    driver.on_start, driver.say = started.append, (lambda text: None)
    driver.rs = type("RS", (), {"cells_per_node": 1, "nodes": ("box",)})()
    driver.queues = {"box": __import__("collections").deque([cell])}
    driver._task = lambda fn, node, cpus, gpus=0, resources=None: type(
        "Task", (), {"remote": staticmethod(lambda *a: object())})()
    monkeypatch.setattr(driver, "nodes", lambda: {"box": node}, raising=False)
    driver.submit(node)
    driver.inflight.pop(next(iter(driver.inflight)))  # as run() does with an answered task
    driver.failed(cell, node, RuntimeError("worker crashed"))
    assert started == [cell] and [c for c, _, _ in driver.inflight.values()] == [cell]


def test_a_machine_without_linux_calls_still_makes_records(monkeypatch):
    """Windows has no os.sysconf and no resource module; macOS and Windows no /proc/stat. The
    machine's facts are made without them (what cannot be read is null), and the run says
    that foreign load is not measured rather than losing the flag silently."""
    import io
    import os

    from rich.console import Console

    from mnist_bench import plan
    from mnist_bench.cli import run as run_cmd
    from mnist_bench.measure import disturbance, environment

    monkeypatch.delattr(os, "sysconf", raising=False)
    monkeypatch.setattr(environment, "resource", None)
    monkeypatch.setattr(disturbance, "machine_busy_s", lambda *a, **k: None)
    facts = environment.machine()
    assert facts["memory_gb"] is None and facts["load_meter"] is None
    assert environment.peak_host_rss() is None
    buf = io.StringIO()
    rs = plan.RunSettings(specs=("mlp_512",), backends=("jax",), profile="smoke")
    cells = plan.plan(rs)
    monkeypatch.setattr("mnist_bench.data.load", lambda *a, **k: type("D", (), {"source": "x"})())
    monkeypatch.setattr(plan, "save_plan", lambda *a, **k: None)
    run_cmd._todo(type("A", (), {"resume": False})(), rs, cells, Path("/nonexistent"),
                  Console(file=buf, width=200))
    assert "foreign load" in buf.getvalue() and "not measured" in buf.getvalue(), buf.getvalue()
