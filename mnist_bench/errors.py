"""The one base class of every error mnist-bench expects and explains in one line.

Anything raised from ``MnistBenchError`` is bad input or a missing resource: the CLI prints its
first line and exits 2, and a worker records it as the cell's reason. Anything else is a bug or
a crash: the CLI prints one line naming it and exits 1 (``--debug`` shows the traceback).
"""


class MnistBenchError(Exception):
    """An expected, explained failure: its message says what was wrong and what is valid."""
