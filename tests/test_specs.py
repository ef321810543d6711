from pathlib import Path

import pytest

from mnist_bench import settings, specs

DOC = Path(__file__).resolve().parent.parent / "docs" / "seeds.md"


def _doc_rows():
    rows = {}
    for line in DOC.read_text().splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) == 9 and cells[0].startswith("`"):
            rows[cells[0].strip("`").split("`")[0]] = cells
    return rows


def test_every_spec_is_the_recipe_its_documentation_states():
    """docs/seeds.md (what users read) and the built-in specs (what runs) say the same."""
    rows = _doc_rows()
    assert set(rows) == set(specs.BUILTIN)
    for name, s in specs.BUILTIN.items():
        _, source, dataset, _, optimizer, batch, epochs, reported, _ = rows[name]
        r = s.recipe
        assert r.source == source, name
        assert dataset.lower().startswith(r.dataset.replace("_", "-")), name
        assert float(reported.split()[0]) == r.reported_accuracy, name
        if s.kind == "keras":
            assert optimizer.split()[0].lower() == r.optimizer and int(batch) == r.batch_size, name
            assert int(epochs) == r.epochs, name
            assert (r.learning_rate is None) == ("lr=" not in optimizer), name


def test_profiles_resolve_epochs():
    assert settings.resolve_epochs(100, "quick", None) == 3
    assert settings.resolve_epochs(5, "seed", None) == 5
    assert settings.resolve_epochs(30, "smoke", None) == 2
    assert settings.resolve_epochs(30, "seed", 7) == 7


def test_user_spec_file_is_checked_without_importing_it(tmp_path):
    f = tmp_path / "mine.py"
    f.write_text("import keras\nraise SystemExit('imported!')\ndef build():\n    pass\n")
    assert specs.check_ref(f"{f}:build") == f"{f}:build"  # parsed, not run
    with pytest.raises(specs.SpecError, match="does not define 'model' \\(it defines: build, keras\\)"):
        specs.check_ref(f"{f}:model")
    f.write_text("def build(:\n")
    with pytest.raises(specs.SpecError, match="does not parse: line 1"):
        specs.check_ref(f"{f}:build")


def test_user_spec_loads_as_spec(tmp_path):
    f = tmp_path / "mine.py"
    f.write_text(
        "from mnist_bench.specs import Recipe, Spec\n"
        "def build():\n    raise AssertionError('not built when loaded')\n"
        "small = Spec('small', build, Recipe(optimizer='adam', batch_size=64))\n")
    s = specs.load(f"{f}:small")
    assert s.name == f"{f}:small" and s.recipe.optimizer == "adam" and s.recipe.batch_size == 64
    plain = specs.load(f"{f}:build")
    assert plain.recipe.input_shape == ()  # taken from the model when it is built


def test_user_spec_labels_are_readable_and_unique_in_a_run():
    refs = ["/home/me/project/my_specs.py:build", "cnn_3conv", "examples/custom_spec.py:tiny_cnn"]
    assert specs.labels(refs) == {"/home/me/project/my_specs.py:build": "my_specs:build",
                                  "cnn_3conv": "cnn_3conv",
                                  "examples/custom_spec.py:tiny_cnn": "custom_spec:tiny_cnn"}
    clash = ["a/my_specs.py:build", "b/my_specs.py:build", "b/my_specs.py:other"]
    got = specs.labels(clash)
    assert got["b/my_specs.py:other"] == "my_specs:other"
    assert got["a/my_specs.py:build"] != got["b/my_specs.py:build"]  # never two rows as one
    assert len(set(got.values())) == len(clash)
