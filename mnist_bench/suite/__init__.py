"""The pytest-benchmark suite, shipped with the package: ``KERAS_BACKEND=jax pytest --pyargs
mnist_bench.suite --benchmark-only`` from any folder (the options come from the installed
plugin, ``mnist_bench.pytest_plugin``). docs/pytest-benchmark.md."""
