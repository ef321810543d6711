"""The pytest-benchmark suite, from a checkout: ``KERAS_BACKEND=jax pytest benchmarks
--benchmark-only``. The suite itself ships in the package (mnist_bench/suite/test_train.py), so
an installed package runs it as ``pytest --pyargs mnist_bench.suite``."""

from mnist_bench.suite.test_train import (MNIST_BENCH_SUITE, batch_size, bench_options,  # noqa: F401
                                          test_baseline_fit, test_train_epoch)
