"""Was an epoch's clock running while the worker could not train? Per epoch, the CPU seconds
the worker itself used (all its threads) and those the rest of the machine used on the CPUs the
worker may run on (other programs, the kernel, a hypervisor's steal: those CPUs' lines of
/proc/stat), read at both ends of the clock, judged against the cores it can count on (its
affinity, capped by its cgroup's CPU quota: a container's, not its host's);
then the flags a run earns from them (docs/method.md, "Flags").

A stopped worker (SIGSTOP, a debugger, a frozen VM) or a starved one gets far less CPU in that
epoch than in its others while its wall clock runs on; a busy machine shows as foreign CPU.
"""

from __future__ import annotations

import math
import os
import statistics
import time

STOPPED_RATIO = 0.5  # an epoch whose CPU/wall is under half the run's median: stopped or starved
HALTED_RATIO = 0.3  # ... under 0.3 of it: the worker did no work for most of the epoch (a SIGSTOP,
# a frozen VM), which a backend's own waiting does not reach (Keras-on-TensorFlow's slow epochs
# run at 0.45-0.7 of its calm CPU/wall, results/tf-spikes)
# the flags of a disturbance from outside the cell: the only ones for which a run may be measured
# again (with its whole block, execute.until); the others are the backend's own behaviour and warn
OUTSIDE = ("foreign load", "halted")
FOREIGN_SHARE = 0.25  # other programs used more than this share of all cores during an epoch
OUTLIER = 2.0  # a steady epoch more than this many times the run's fastest steady epoch
MIN_EPOCH_S = 0.05  # shorter epochs are too short for /proc/stat's 10 ms ticks to judge
_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def allowed_cpus() -> list[int] | None:
    """The CPUs this process may run on (its affinity); None where the OS does not say."""
    try:
        return sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return None


def cgroup_quota_cpus(root: str = "/sys/fs/cgroup") -> float | None:
    """The CPUs' worth of time this process's cgroup may use (``cpu.max``, cgroup v2, of the
    process's own group); None without a quota."""
    try:
        with open("/proc/self/cgroup") as fh:
            group = next((line.split("::", 1)[1].strip() for line in fh if line.startswith("0::")), "")
        with open(os.path.join(root, group.lstrip("/"), "cpu.max")) as fh:
            quota, period = fh.read().split()[:2]
    except (OSError, ValueError, IndexError):
        return None
    if quota == "max":
        return None
    try:
        return int(quota) / int(period)
    except (ValueError, ZeroDivisionError):
        return None


def usable_cores(cpus: list[int] | None = None, quota: float | None = None) -> int:
    """The cores this worker can count on: its CPUs (affinity), no more than its cgroup's quota
    (a 2-CPU container of a 64-core host has 2, not 64)."""
    cpus = allowed_cpus() if cpus is None else cpus
    n = len(cpus) if cpus else (os.cpu_count() or 1)
    quota = cgroup_quota_cpus() if quota is None else quota
    return max(1, min(n, math.ceil(quota))) if quota else n


def machine_busy_s(cpus: list[int] | None = None, stat: str = "/proc/stat") -> float | None:
    """CPU seconds the CPUs this process may run on have been busy (not idle or waiting) since
    boot, from their own /proc/stat lines (the whole machine's first line where the OS names no
    affinity); None without /proc/stat. A neighbour on CPUs this worker never uses is not load
    on it."""
    try:
        with open(stat) as fh:
            lines = [line.split() for line in fh if line.startswith("cpu")]
    except OSError:
        return None
    want = None if cpus is None else {f"cpu{c}" for c in cpus}
    rows = [f for f in lines if (f[0] == "cpu" if want is None else f[0] in want)]
    if not rows or (want is not None and len(rows) != len(want)):
        rows = [f for f in lines if f[0] == "cpu"]  # the per-CPU lines do not match: all of it
    if not rows:
        return None
    total = 0
    for f in rows:
        user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in f[1:9])
        total += user + nice + system + irq + softirq + steal
    return total / _TICK


def load_meter() -> str | None:
    """What measures foreign load here: "/proc/stat" (per CPU where the OS names the
    affinity), or None where there is none (macOS, Windows: no run can be flagged for it)."""
    return "/proc/stat" if machine_busy_s() is not None else None


class CpuMeter:
    """Reads the worker's and its CPUs' CPU time at an epoch's start (``begin``) and end
    (``end``): (own CPU seconds, foreign CPU seconds on this worker's CPUs, or None)."""

    own0 = busy0 = None

    def __init__(self):
        self.cpus = allowed_cpus()

    def begin(self) -> None:
        self.own0, self.busy0 = time.process_time(), machine_busy_s(self.cpus)

    def end(self) -> tuple[float | None, float | None]:
        if self.own0 is None:  # no reading at the start: nothing to say
            return None, None
        own = time.process_time() - self.own0
        busy = machine_busy_s(self.cpus)
        if busy is None or self.busy0 is None:
            return own, None
        return own, max(0.0, busy - self.busy0 - own)


def flags(epoch_s: list, cpu_s: list, foreign_s: list, cores: int | None = None) -> list[str]:
    """The flags of one run from its epochs' clocked seconds and CPU seconds. The compiling
    first epoch is not judged for CPU: a compiler's time is mostly one thread (torch.compile's
    first epoch ran at 0.9 CPU s per second against 2.0 in its steady epochs) and its helper
    processes (inductor's compile workers) count as another program's CPU, so that epoch says
    nothing about a stopped worker or a busy machine."""
    n_cores = cores or usable_cores()
    out = []
    epoch_s, cpu_s, foreign_s = list(epoch_s), list(cpu_s), list(foreign_s)
    judged = [(t, c) for t, c in zip(epoch_s[1:], cpu_s[1:]) if t >= MIN_EPOCH_S]
    if len(judged) >= 2:
        typical = statistics.median(c / t for t, c in judged)
        if any(c / t < STOPPED_RATIO * typical for t, c in judged):
            out.append("stopped")
        if any(c / t < HALTED_RATIO * typical for t, c in judged):
            out.append("halted")
    if any(f is not None and t >= MIN_EPOCH_S and f / (t * n_cores) > FOREIGN_SHARE
           for t, f in zip(epoch_s[1:], foreign_s[1:])):
        out.append("foreign load")
    return out + outlier(epoch_s)


def outlier(epoch_s: list) -> list[str]:
    """["outlier epoch"] when a steady epoch took more than ``OUTLIER`` times the run's fastest
    (a warning: a backend's own slow epochs are its cost and stay in its figures)."""
    steady = list(epoch_s)[1:]
    if len(steady) >= 2 and max(steady) > OUTLIER * min(steady) and max(steady) >= MIN_EPOCH_S:
        return ["outlier epoch"]
    return []


def outside(flags_: list[str]) -> list[str]:
    """The flags of ``flags_`` that name a disturbance from outside the cell (``OUTSIDE``)."""
    return [f for f in flags_ if f in OUTSIDE]
