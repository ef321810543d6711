"""The commit a record gives for the harness is the harness's own: the checkout's when the
package runs from its own repository, unknown when a copy of it sits inside another one."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROBE = "import json; from mnist_bench.measure import environment as e; print(json.dumps(e.git_commit()))"


def _commit_seen(pythonpath: Path, cwd: Path, env_commit: str | None = None) -> dict:
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(pythonpath), "HOME": str(cwd)}
    if env_commit:
        env["MNIST_BENCH_GIT_COMMIT"] = env_commit
    out = subprocess.run([sys.executable, "-c", PROBE], cwd=cwd, env=env, capture_output=True,
                         text=True, timeout=120, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def test_a_copy_inside_another_repository_does_not_take_its_commit(tmp_path):
    other = tmp_path / "other-project"
    (other / "vendor" / "bench").mkdir(parents=True)
    git = lambda *a: subprocess.run(["git", *a], cwd=other, check=True, capture_output=True)  # noqa: E731
    git("init", "-q")
    (other / "README").write_text("another project\n")
    git("add", "README")
    git("-c", "user.name=x", "-c", "user.email=x@example.invalid", "commit", "-qm", "theirs")
    theirs = subprocess.run(["git", "rev-parse", "HEAD"], cwd=other, capture_output=True,
                            text=True, check=True).stdout.strip()
    shutil.copytree(ROOT / "mnist_bench", other / "vendor" / "bench" / "mnist_bench",
                    ignore=shutil.ignore_patterns("__pycache__"))
    seen = _commit_seen(other / "vendor" / "bench", tmp_path)
    assert seen["commit"] != theirs and seen["commit"] is None, seen
    # the sender of a shipped copy may say which commit it is
    assert _commit_seen(other / "vendor" / "bench", tmp_path, "abc1234")["commit"] == "abc1234"


def test_the_package_in_its_own_checkout_reports_that_checkout_s_commit(tmp_path):
    if not (ROOT / ".git").exists():  # a copy of the tree without its .git: nothing to compare
        assert _commit_seen(ROOT, tmp_path)["commit"] is None
        return
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True,
                          text=True, check=True).stdout.strip()
    assert _commit_seen(ROOT, tmp_path)["commit"] == head
