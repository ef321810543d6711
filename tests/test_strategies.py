"""Like-for-like pairs: a Keras variant is set against a native loop only when both run the
same execution strategy (compiler, compiled scope, steps per call, precision), and the
"matched" table is built from the strategies records carry, never from mode names."""

import pytest

from mnist_bench import plan, strategies
from mnist_bench.analysis import decisions, report, stats
from mnist_bench.record import assemble
from mnist_bench.render import markdown
from mnist_bench.settings import SettingsError
from mnist_bench.modes import native_strategy
from mnist_bench.strategies import keras_strategy


@pytest.mark.parametrize("backend, keras, native_ok, native_refused", [
    # TensorFlow: fit() default is a tf.function step (no XLA on a CPU); tuned an XLA step, 32
    # steps per call; the native steps32 loop is the only XLA-32 one
    ("tensorflow", (False, 1), ["default"], ["tuned", "steps32", "steps32-graph"]),
    ("tensorflow", (True, 32), ["steps32"], ["default", "tuned", "steps32-graph"]),
    # JAX: Keras calls its jitted step once per batch whatever steps_per_execution is, so
    # tuned matches the per-step loops and never the lax.scan epoch
    ("jax", (True, 32), ["default", "device-step"], ["tuned"]),
    ("jax", (True, 1), ["default", "device-step"], ["tuned"]),
    # PyTorch: Keras compiles the whole train step; native tuned compiles the model only
    ("torch", (True, 1), ["step-compiled"], ["default", "tuned"]),
    ("torch", (False, 1), ["default"], ["tuned", "step-compiled"]),
])
def test_a_pair_is_made_only_of_one_strategy(backend, keras, native_ok, native_refused):
    k = keras_strategy(backend, *keras)
    for mode in native_ok:
        p = strategies.pair(k, native_strategy(backend, mode))
        assert p.keras.key() == p.native.key()
    for mode in native_refused:
        with pytest.raises(strategies.StrategyMismatch, match="not like for like: Keras runs"):
            strategies.pair(k, native_strategy(backend, mode))


def test_precision_is_part_of_the_strategy_and_a_cpu_conv_model_steps_per_batch():
    with pytest.raises(strategies.StrategyMismatch):
        strategies.pair(keras_strategy("jax", True, 1, "mixed bfloat16"), native_strategy("jax", "default"))
    strategies.pair(keras_strategy("jax", True, 1, "mixed bfloat16"), native_strategy("jax", "bf16"))
    # native JAX tuned on a CPU conv model steps per batch (XLA CPU convolutions in a loop body
    # are slow): then it is Keras's strategy, with the data held
    conv = native_strategy("jax", "tuned", has_conv=True)
    assert conv.steps_per_call == 1 and conv.data == "held"
    strategies.pair(keras_strategy("jax", True, 32), conv)


def test_native_modes_plan_only_for_their_framework_and_bad_modes_say_what_is_valid():
    rs = plan.RunSettings(specs=("mlp_100x2",), impls=("keras", "native"),
                          modes=("default", "steps32", "step-compiled", "device-step"))
    cells = plan.plan(rs)
    got = {(c.backend, c.impl, c.mode) for c in cells}
    assert ("tensorflow", "native", "steps32") in got and ("torch", "native", "step-compiled") in got
    assert ("jax", "native", "device-step") in got
    assert not any(c.mode != "default" and (c.impl == "keras") for c in cells)
    assert not any(c.mode == "steps32" and c.backend != "tensorflow" for c in cells)
    assert len(cells) == 3 * 2 + 3
    with pytest.raises(SettingsError, match="is a native loop's .tensorflow.; add --impl native"):
        plan.plan(plan.RunSettings(specs=("mlp_100x2",), modes=("steps32",)))
    with pytest.raises(SettingsError, match="unknown mode 'fast'; valid: default, tuned, bf16, steps32"):
        plan.plan(plan.RunSettings(specs=("mlp_100x2",), modes=("fast",)))


def _records(variants: dict, blocks: int = 3) -> list[dict]:
    """Synthetic records of one run: variants {(backend, impl, mode): (seconds, strategy)}."""
    out = []
    for k in range(blocks):
        for (backend, impl, mode), (s, strategy) in variants.items():
            mean = s * (1 + 0.01 * ((k * 7 + len(backend + mode)) % 3 - 1))
            cell = plan.Cell(spec="mlp_512", backend=backend, dataset="mnist", repeat=k, impl=impl,
                             mode=mode)
            out.append(assemble.record(
                cell, run={"run_id": "r"}, status="ok", test_accuracy=0.97, train_samples=60000,
                epoch_s=[2 * mean, mean, mean], first_epoch_s=2 * mean, steady_epoch_s=mean,
                recipe={}, strategy=strategy.to_dict()))
    return out


def test_the_matched_table_pairs_by_recorded_strategy_and_states_what_differs():
    ks, ns = keras_strategy, native_strategy
    recs = _records({
        ("tensorflow", "keras", "default"): (1.8, ks("tensorflow", False, 1)),
        ("tensorflow", "keras", "tuned"): (0.9, ks("tensorflow", True, 32)),
        ("tensorflow", "native", "default"): (1.2, ns("tensorflow", "default")),
        ("tensorflow", "native", "tuned"): (1.0, ns("tensorflow", "tuned")),
        ("tensorflow", "native", "steps32"): (0.6, ns("tensorflow", "steps32")),
        ("torch", "keras", "tuned"): (1.3, ks("torch", True, 1)),
        ("torch", "native", "tuned"): (1.2, ns("torch", "tuned")),
        ("jax", "keras", "tuned"): (0.8, ks("jax", True, 32)),
        ("jax", "native", "default"): (0.8, ns("jax", "default")),
        ("jax", "native", "device-step"): (0.7, ns("jax", "device-step")),
        ("jax", "native", "tuned"): (0.5, ns("jax", "tuned")),
    })
    rep = report.build(recs)
    m = {(r["framework"], r["keras mode"]): r for r in rep.matched.to_dict("records")}
    assert m[("tensorflow", "default")]["native mode"] == "default"
    assert m[("tensorflow", "tuned")]["native mode"] == "steps32"
    assert m[("tensorflow", "tuned")]["Keras / native"].ratio == pytest.approx(1.5, rel=0.03)
    # JAX tuned: of the two per-step loops, the one that feeds data as Keras does
    assert m[("jax", "tuned")]["native mode"] == "default"
    assert m[("jax", "tuned")]["keras data"] == m[("jax", "tuned")]["native data"] == "fed"
    # torch: Keras compiles the train step, native tuned the forward pass only: no pair
    assert not isinstance(m[("torch", "tuned")]["native mode"], str)
    assert not isinstance(m[("torch", "tuned")]["Keras / native"], stats.Ratio)
    for r in m.values():
        if isinstance(r["native mode"], str):
            a = strategies.of_record(next(x for x in recs if (x["backend"], x["impl"], x["mode"])
                                          == (r["framework"], "keras", r["keras mode"])))
            b = strategies.of_record(next(x for x in recs if (x["backend"], x["impl"], x["mode"])
                                          == (r["framework"], "native", r["native mode"])))
            assert a.key() == b.key()
    # at best: jax's best native is the scan, a different strategy, and the row names both
    best = rep.native.set_index("framework")
    assert best.loc["jax", "best native"] == ("tuned", "XLA train step, an epoch per call (lax.scan)")
    md = markdown.markdown(rep)
    assert "What Keras costs at a matched strategy" in md and "Each framework at its best" in md
    assert "none at this strategy in the run" in md
    labels = [c.label for c in decisions.comparisons(rep) if c.table == "matched"]
    assert any("Keras tuned vs native steps32 (XLA train step, 32 per call)" in x for x in labels)


def test_records_without_a_strategy_get_the_one_their_settings_imply():
    r = {"backend": "jax", "impl": "native", "mode": "tuned", "status": "ok",
         "mode_note": "native jax: one lax.scan per epoch, data on the device, optax"}
    assert strategies.of_record(r).steps_per_call is None
    r["mode_note"] = "native jax: jax.jit step per batch, data on the device, optax (no lax.scan: ...)"
    assert strategies.of_record(r).steps_per_call == 1
    k = {"backend": "tensorflow", "impl": "keras", "mode": "tuned", "status": "ok",
         "jit_compile": True, "steps_per_execution": 32}
    assert strategies.of_record(k) == keras_strategy("tensorflow", True, 32)
    assert strategies.of_record({"backend": "sklearn", "status": "ok"}) is None
