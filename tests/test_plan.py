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
        assert len({c.key()[:2] + (c.mode,) for c in chunk}) == per_block
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
