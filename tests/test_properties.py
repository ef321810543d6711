"""Property-based tests (hypothesis): the option parser, the record loader and the run-level
statistics over generated inputs. No input may end in a traceback."""

import contextlib
import io
import json
import math
import statistics

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mnist_bench import cli
from mnist_bench.cli import options
from mnist_bench.record import assemble, schema
from mnist_bench.analysis import stats
from mnist_bench.settings import Cell

NUMERIC = {  # option: (subcommand, kind, low, high, low is open)
    "--epochs": ("run", int, 2, options.MAX_EPOCHS, False),
    "--seed": ("run", int, 0, options.MAX_SEED, False),
    "--repeats": ("run", int, 1, 1000, False),
    "--order-seed": ("run", int, 0, options.MAX_SEED, False),
    "--cell-timeout": ("run", float, 0, options.MAX_CELL_TIMEOUT_S, True),
    "--budget": ("run", float, 0, options.MAX_BUDGET_MIN, True),
    "--margin": ("report", float, 0, 1, True),
    "--cells-per-node": ("run", int, 1, 1024, False),
    "--max-slowdown": ("compare", float, 0, None, False),
    "--max-accuracy-drop": ("compare", float, 0, 1, False),
}
TEXT = st.one_of(st.text(max_size=12), st.integers(-10**12, 10**12).map(str),
                 st.floats(allow_nan=True, allow_infinity=True).map(repr),
                 st.sampled_from(["nan", "inf", "-inf", "1e400", "0x10", " 3 ", "1_000", "", "-0"]))


def _parse(argv):
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        try:
            return options.build_parser().parse_args(argv), err.getvalue()
        except SystemExit as exc:
            return exc.code, err.getvalue()


@settings(max_examples=300, deadline=None)
@given(option=st.sampled_from(sorted(NUMERIC)), text=TEXT)
def test_a_numeric_option_is_in_range_or_a_one_line_error(option, text):
    command, kind, low, high, low_open = NUMERIC[option]
    argv = [command, *({"compare": ["a", "b"], "report": ["a"]}.get(command, [])), f"{option}={text}"]
    parsed, err = _parse(argv)
    if parsed == 2:
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("mnist-bench: error: ") and option in lines[0]
        return
    value = getattr(parsed, option.lstrip("-").replace("-", "_"))
    assert isinstance(value, kind) and math.isfinite(value)
    assert (value > low) if low_open else (value >= low)
    assert high is None or value <= high


@settings(max_examples=200, deadline=None)
@given(text=st.text(alphabet=st.sampled_from("ab, jaxtorchensflow"), max_size=30))
def test_a_list_option_has_no_empty_or_repeated_names_or_is_a_one_line_error(text):
    parsed, err = _parse(["run", f"--backends={text}"])
    if parsed == 2:
        assert len(err.strip().splitlines()) == 1
        return
    assert parsed.backends and all(parsed.backends) and len(set(parsed.backends)) == len(parsed.backends)


def _valid_record():
    return assemble.record((Cell("mlp_512", "jax", "mnist")), status="ok",
                       test_accuracy=0.97, epoch_s=[2.0, 1.0, 1.1], train_samples=60000)


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
                    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=5), c, max_size=3),
                    max_leaves=6)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(field=st.sampled_from(sorted(schema.FIELDS) + ["bogus"]), value=JSON,
       drop=st.booleans())
def test_report_on_any_mutated_record_renders_or_refuses_in_one_line(tmp_path, field, value, drop):
    rec = _valid_record()
    if drop:
        rec.pop(field, None)
    else:
        rec[field] = value
    path = tmp_path / "records.jsonl"
    path.write_text(json.dumps(rec) + "\n")
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(["report", str(path)])
    assert code in (0, 2), err.getvalue()  # 1 would be an internal error
    if code == 2:
        assert len(err.getvalue().strip().splitlines()) == 1


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(content=st.one_of(st.text(max_size=200), JSON.map(json.dumps)),
       suffix=st.sampled_from([".json", ".jsonl", ""]))
def test_report_and_compare_on_any_file_render_or_refuse_in_one_line(tmp_path, content, suffix):
    path = tmp_path / f"input{suffix}"
    path.write_text(content)
    for argv in (["report", str(path)], ["compare", str(path), str(path)]):
        err = io.StringIO()
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
            code = cli.main(argv)
        assert code in (0, 2), (argv, err.getvalue())


FIGURES = st.lists(st.floats(min_value=1e-3, max_value=1e3), min_size=1, max_size=8)


@settings(max_examples=300, deadline=None)
@given(a=FIGURES, factors=st.lists(st.floats(min_value=0.2, max_value=5), min_size=8, max_size=8),
       scale=st.floats(min_value=1e-2, max_value=1e2))
def test_paired_ratio_properties(a, factors, scale):
    a = dict(enumerate(a))
    b = {k: v * factors[k] for k, v in a.items()}
    r = stats.paired_ratio(a, b)
    assert r.n == stats.looked(len(a))  # judged at the last scheduled look
    if r.n < stats.MIN_RUNS:
        assert r.low is None and r.verdict == stats.FEW
    else:
        assert r.low <= r.ratio * (1 + 1e-9) and r.ratio <= r.high * (1 + 1e-9)
        # the epoch noise floor only ever widens an interval, around the same ratio
        floored = stats.paired_ratio(stats.Figures(a, noise=0.01, noise_df=20), b)
        assert floored.ratio == pytest.approx(r.ratio, rel=1e-9)
        assert floored.low <= r.low * (1 + 1e-9) and floored.high >= r.high * (1 - 1e-9)
        # one of a family (against the fastest of three) is wider, around the same ratio, and
        # decides nothing the lone interval would not
        fam = stats.paired_ratio(a, b, family=2)
        assert fam.ratio == pytest.approx(r.ratio, rel=1e-9)
        assert fam.low <= r.low * (1 + 1e-9) and fam.high >= r.high * (1 - 1e-9)
        assert not fam.decided or fam.verdict == r.verdict
    # the same measurements in other units give the same ratio and interval
    s = stats.paired_ratio({k: v * scale for k, v in a.items()}, {k: v * scale for k, v in b.items()})
    assert s.ratio == pytest.approx(r.ratio, rel=1e-6) and s.verdict == r.verdict
    # B against A is the inverse, with the interval mirrored
    inv = stats.paired_ratio(b, a)
    assert inv.ratio == pytest.approx(1 / r.ratio, rel=1e-6)
    if r.low is not None:
        assert inv.low == pytest.approx(1 / r.high, rel=1e-6)


@settings(max_examples=200, deadline=None)
@given(a=FIGURES, b=FIGURES)
def test_unpaired_ratio_properties(a, b):
    r = stats.unpaired_ratio(a, b)
    assert r.ratio == pytest.approx(statistics.fmean(a) / statistics.fmean(b), rel=1e-6)
    if r.low is not None:
        assert r.low <= r.ratio * (1 + 1e-9) <= r.high * (1 + 1e-9) * (1 + 1e-9)
    else:
        assert r.verdict == stats.FEW


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(0.5, 2.0), min_size=2, max_size=6),
       st.lists(st.floats(0.5, 2.0), min_size=2, max_size=6),
       st.floats(0.0, 0.5), st.floats(0.0, 0.5))
def test_compare_s_epoch_noise_floor_only_widens(a, b, noise_a, noise_b):
    """The unpaired interval with each side's floor under its variance is never narrower than
    without (the degrees of freedom stay those of the variances seen)."""
    plain = stats.unpaired_ratio(a, b)
    floored = stats.unpaired_ratio(a, b, noise=(noise_a, noise_b))
    if plain.low is not None:
        assert floored.low <= plain.low * (1 + 1e-9) and floored.high >= plain.high * (1 - 1e-9)
