"""The cells: what runs inside a worker process and returns one result.

``keras_cell`` (a spec trained by ``model.fit``), ``native`` (each framework's own loop built
from the spec's layers) and ``baseline`` (scikit-learn) side by side, with what they share in
``common``. Only this sub-package (and the worker) imports a framework.
"""
