"""Blocks and their random order (fast: no training)."""

from mnist_bench import plan

SPECS = ("linear_sgd", "mlp_512", "cnn_3conv", "sgd_classifier")


def _plan(seed, repeats=3):
    return plan.plan(plan.RunSettings(specs=SPECS, backends=("tensorflow", "jax", "torch"),
                                          modes=("default", "tuned"), repeats=repeats,
                                          order_seed=seed))


def test_every_block_holds_every_variant_once_and_blocks_do_not_mix():
    cells = _plan(7)
    per_block = len(cells) // 3
    assert per_block == 3 * 3 * 2 + 1
    for block in range(3):
        chunk = cells[block * per_block:(block + 1) * per_block]
        assert {c.repeat for c in chunk} == {block}
        assert len({(c.spec, c.backend, c.mode) for c in chunk}) == per_block
        assert [c.position for c in chunk] == list(range(per_block))


def test_variants_of_a_spec_run_back_to_back_in_a_fresh_order_each_block():
    cells = _plan(7)
    per_block = len(cells) // 3
    orders = []
    for block in range(3):
        chunk = cells[block * per_block:(block + 1) * per_block]
        specs = [c.spec for c in chunk]
        for spec in set(specs):  # contiguous
            first = specs.index(spec)
            assert specs[first:first + specs.count(spec)] == [spec] * specs.count(spec)
        orders.append([(c.spec, c.backend, c.mode) for c in chunk])
    assert len({tuple(o) for o in orders}) == 3  # seed 7 shuffles each block differently


def test_the_order_is_reproducible_from_its_seed():
    assert _plan(7) == _plan(7)
    assert [c.spec for c in _plan(7)] != [c.spec for c in _plan(8)]
    unshuffled = _plan(None, repeats=1)
    assert [c.spec for c in unshuffled][::6][:3] == ["linear_sgd", "mlp_512", "cnn_3conv"]


def test_started_settings_draw_and_keep_a_seed_and_run_id():
    rs = plan.RunSettings(specs=SPECS).started()
    assert rs.order_seed is not None and rs.run_id
    again = plan.RunSettings.from_dict(rs.to_dict()).started()  # as --resume reloads it
    assert (again.order_seed, again.run_id) == (rs.order_seed, rs.run_id)


def test_k_selects_cells_by_label_as_pytest_does():
    def labels(expr):
        rs = plan.RunSettings(specs=SPECS, modes=("default", "tuned"), repeats=2, select=expr)
        return [c.label() for c in plan.plan(rs)]

    assert labels("mlp_512 and jax") == ["mlp_512/jax/mnist/cpu", "mlp_512/jax/mnist/cpu [tuned]",
                                         "mlp_512/jax/mnist/cpu #2", "mlp_512/jax/mnist/cpu [tuned] #2"]
    chosen = labels("(linear or cnn) and not torch and not tuned")
    assert chosen and all(("linear" in x or "cnn" in x) and "torch" not in x and "tuned" not in x
                          for x in chosen)
    assert len(chosen) == 2 * 2 * 2  # two specs x tensorflow, jax x two blocks
    assert labels("SKLEARN") == ["sgd_classifier/sklearn/mnist/cpu", "sgd_classifier/sklearn/mnist/cpu #2"]
    # a selection is saved with the run and comes back with it (--resume)
    rs = plan.RunSettings(specs=SPECS, select="mlp", machine="box-1")
    assert plan.RunSettings.from_dict(rs.to_dict()) == rs
    positions = [c.position for c in plan.block(plan.RunSettings(specs=SPECS, select="mlp"), 0)]
    assert positions == list(range(len(positions)))


def test_time_left_is_estimated_from_the_cells_already_run():
    from mnist_bench.cli.progress import Estimate

    cells = plan.plan(plan.RunSettings(specs=("mlp_512", "cnn_3conv"), backends=("jax", "torch")))
    by = {(c.spec, c.backend): c for c in cells}
    est = Estimate()
    est.expect(cells)
    assert est.left_s() is None and est.text(False) == "time left: estimating"
    est.started(by["cnn_3conv", "jax"])
    est.finished(by["cnn_3conv", "jax"], 100.0)
    # pending: cnn/torch (what cnn took on jax: 100), mlp x2 (no mlp yet: the mean cell, 100)
    assert est.left_s() == 300.0
    est.started(by["mlp_512", "jax"])
    est.finished(by["mlp_512", "jax"], 10.0)
    # cnn/torch 100 (cnn on another backend), mlp/torch 10 (mlp on another backend)
    assert est.left_s() == 110.0 and est.text(False) == "about 2 min left"
    est.started(by["mlp_512", "torch"])
    est.finished(by["mlp_512", "torch"], 30.0)
    assert est.left_s() == 100.0 and est.text(True) == "about 2 min left in this block"
    est.started(by["cnn_3conv", "torch"])
    assert est.left_s() == 0.0


def test_batch_sizes_are_one_more_dimension_of_every_block():
    from mnist_bench import specs

    rs = plan.RunSettings(specs=("mlp_512", "sgd_classifier"), backends=("jax", "torch"),
                          modes=("default", "tuned"), repeats=2, order_seed=3,
                          batch_sizes=(128, 512, 2048), lr_scaling="sqrt")
    cells = plan.plan(rs)
    per_block = 2 * 2 * 3 + 1  # backend x mode x batch size, and the baseline once
    assert len(cells) == 2 * per_block
    for block in range(2):
        chunk = [c for c in cells if c.repeat == block]
        trained = [c for c in chunk if c.backend != "sklearn"]
        assert sorted((c.backend, c.mode, c.planned_batch_size) for c in trained) == sorted(
            (b, m, n) for b in ("jax", "torch") for m in ("default", "tuned") for n in (128, 512, 2048))
        assert {c.lr_scaling for c in trained} == {"sqrt"}
        baseline = [c for c in chunk if c.backend == "sklearn"]
        assert len(baseline) == 1 and baseline[0].planned_batch_size is None
    # batch sizes are mixed into the block's random order, not run one after another
    first = [c.planned_batch_size for c in cells[:per_block] if c.backend != "sklearn"]
    assert first != sorted(first)
    assert len({c.key() for c in cells}) == len(cells)  # --resume tells them apart
    assert "mlp_512/jax/mnist/cpu [tuned] bs512 lr-sqrt" in {c.label() for c in cells}
    assert plan.RunSettings.from_dict(rs.to_dict()) == rs  # saved in run.json for --resume
    # -k selects by batch size too
    picked = plan.plan(plan.RunSettings(specs=("mlp_512",), backends=("jax",),
                                        batch_sizes=(128, 2048), select="bs2048"))
    assert [c.planned_batch_size for c in picked] == [2048]

    # what the worker trains: the recipe with its batch size, and the rate scaled only if asked
    spec = specs.BUILTIN["mlp_512"]  # rmsprop, the optimizer's default rate 0.001, batch 128
    assert specs.at_batch_size(spec, None) is spec
    at = specs.at_batch_size(spec, 512)
    assert at.recipe.batch_size == 512 and at.recipe.learning_rate == spec.recipe.learning_rate
    assert specs.learning_rate(specs.at_batch_size(spec, 512, "linear").recipe) == 0.001 * 4
    assert abs(specs.learning_rate(specs.at_batch_size(spec, 512, "sqrt").recipe) - 0.002) < 1e-12
    sgd = specs.BUILTIN["linear_sgd"]
    assert specs.learning_rate(specs.at_batch_size(sgd, sgd.recipe.batch_size * 2, "linear").recipe) == \
        2 * specs.learning_rate(sgd.recipe)
