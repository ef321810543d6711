"""``-k`` reads as pytest's ``-k`` does, without pytest's private parser: for random
expressions over cell-label words, both agree on every label, and both refuse the same
malformed ones."""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from mnist_bench.selection import SelectionError, compile_selection

WORDS = ["mlp", "jax", "torch", "tensorflow", "tuned", "cnn_3conv", "mnist/cpu", "native", "512"]
LABELS = ["mlp_512/jax/mnist/cpu", "mlp_512/torch/mnist/cpu [tuned]", "cnn_3conv/tensorflow/mnist/cpu",
          "linear_sgd/jax/mnist/cpu native [tuned]", "fmnist_mlp_20/torch/fashion_mnist/cpu"]


def _pytest_reads(expr: str):
    from _pytest.mark.expression import Expression  # the reference, in the tests only

    compiled = Expression.compile(expr)
    return lambda label: compiled.evaluate(lambda word, **_: word.lower() in label.lower())


expressions = st.recursive(
    st.sampled_from(WORDS),
    lambda inner: st.one_of(
        st.builds(lambda a: f"not {a}", inner),
        st.builds(lambda a, b: f"{a} and {b}", inner, inner),
        st.builds(lambda a, b: f"{a} or {b}", inner, inner),
        st.builds(lambda a: f"({a})", inner)),
    max_leaves=8)


@settings(max_examples=300, deadline=None)
@given(expressions)
def test_a_selection_reads_as_pytest_reads_it(expr):
    ours, theirs = compile_selection(expr), _pytest_reads(expr)
    assert [ours(label) for label in LABELS] == [theirs(label) for label in LABELS], expr


def test_an_empty_selection_selects_every_label_as_pytest_k_does():
    """pytest's ``-k ''`` deselects nothing (it skips an empty expression before reading it)."""
    assert all(compile_selection("  ")(label) for label in LABELS)


@pytest.mark.parametrize("expr", ["mlp and", "(mlp", "mlp)", "and mlp", "not", "mlp or or jax",
                                  "()"])
def test_a_malformed_selection_is_refused_as_pytest_refuses_it(expr):
    with pytest.raises(SelectionError):
        compile_selection(expr)
    with pytest.raises(Exception):
        _pytest_reads(expr)
