import pytest

from mnist_bench import settings, specs

SEEDS = {  # name: (optimizer, learning rate, batch, epochs, dataset, reported accuracy)
    "linear_sgd": ("sgd", 1e-3, 64, 100, "mnist", 0.9078),
    "linear_rmsprop": ("rmsprop", None, 128, 30, "mnist", 0.9275),
    "mlp_100x2": ("rmsprop", None, 200, 30, "mnist", 0.9789),
    "cnn_3conv": ("rmsprop", None, 200, 30, "mnist", 0.9912),
    "mlp_512": ("rmsprop", None, 128, 5, "mnist", 0.9799),
    "fmnist_mlp_20": ("adam", None, 32, 10, "fashion_mnist", 0.8631),
    "fmnist_mlp_50x2_dropout": ("adam", None, 32, 10, "fashion_mnist", 0.8696),
    "mlp_256x4": ("adam", None, 100, 20, "mnist", 0.9791),
}


def test_every_seed_recipe_is_a_spec():
    assert set(specs.BUILTIN) == {*SEEDS, "sgd_classifier"}
    for name, (opt, lr, batch, epochs, dataset, acc) in SEEDS.items():
        r = specs.BUILTIN[name].recipe
        assert (r.optimizer, r.learning_rate, r.batch_size, r.epochs, r.dataset,
                r.reported_accuracy) == (opt, lr, batch, epochs, dataset, acc), name
    base = specs.BUILTIN["sgd_classifier"]
    assert base.kind == "sklearn" and base.recipe.validation_split == 0.25
    assert base.build().max_iter == 200


def test_recipes_are_frozen():
    with pytest.raises(AttributeError):
        specs.BUILTIN["mlp_512"].recipe.epochs = 1


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
