"""The scikit-learn baseline cell: ``SGDClassifier(max_iter=200)`` on the 784-pixel vectors.

As in its source (seed 001) it is fitted on a 45k/15k split of the training set and scored on
the 15k held out; it is also scored on the official 10k test set, the figure compared with the
Keras specs. Its result has the same fields as theirs (``common.result``): one "epoch" is one
pass over the data (``n_iter_`` passes in all), and its training clock is the whole fit.
"""

from __future__ import annotations

import numpy as np

from .. import settings
from ..measure import clock, environment, phases
from ..measure.timing import Stopwatch
from . import common


def run_cell(cell: settings.Cell, spec, ds, emit=lambda **event: None) -> dict:
    from sklearn.model_selection import train_test_split

    p = settings.PROFILES[cell.profile]
    scale = np.float32(1 / 255)
    x = ds.x_train[: p.train_limit].reshape(-1, 784).astype(np.float32) * scale
    y = ds.y_train[: p.train_limit]
    x_test = ds.x_test[: p.test_limit].reshape(-1, 784).astype(np.float32) * scale
    y_test = ds.y_test[: p.test_limit]
    x_fit, x_hold, y_fit, y_hold = train_test_split(
        x, y, test_size=spec.recipe.validation_split, random_state=cell.seed)
    clf = spec.build()
    clf.set_params(random_state=cell.seed)
    phases.mark("build")
    watch = Stopwatch()
    watch.start()
    clf.fit(x_fit, y_fit)
    fit_s = watch.stop()
    clock.advance(fit_s)
    phases.mark("training")
    passes = int(np.max(clf.n_iter_))
    emit(event="epoch", epoch=passes, epochs=clf.max_iter, seconds=fit_s, loss=None,
         accuracy=None)
    per_pass = fit_s / passes
    watch.start()
    test_acc = float(clf.score(x_test, y_test))
    predict_s = watch.stop()
    return common.result(
        status="ok", reason=None, epochs_planned=clf.max_iter, epochs_run=passes,
        batch_size=None, train_samples=len(x_fit), test_samples=len(x_test), input_shape=[784],
        params=int(clf.coef_.size + clf.intercept_.size), test_accuracy=test_acc,
        test_loss=None, split_accuracy=float(clf.score(x_hold, y_hold)),
        split_samples=len(x_hold), fit_s=fit_s, epoch_s=[per_pass], epoch_call_s=[fit_s],
        first_epoch_s=None, steady_epoch_s=per_pass, steady_epoch_iqr_s=None,
        train_samples_per_s=len(x_fit) / per_pass,
        inference_samples_per_s=len(x_test) / predict_s, inference_batch_size=len(x_test),
        curve=[{"epoch": passes, "train_s": fit_s, "test_accuracy": test_acc}],
        curve_on="test", jit_compile=None, steps_per_execution=None,
        mode_note="scikit-learn has no execution modes",
        device=environment.backend_device("sklearn", "cpu"), peak_device_memory_bytes=None)
