"""Every comparison a report's tables make, as one list: what ``run --until-decided`` keeps
measuring until each is decided (``stats.Ratio.decided``), and what ``compare`` checks for
replication between two runs of one plan.

A comparison sets two variants of one run against each other, paired by block. A variant is
(spec, mode, implementation, backend); a run holds one dataset and one device per spec.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..identity import variant_words
from . import stats

Variant = tuple  # (spec, mode, impl, backend)


variant_label = variant_words  # a variant in a few words (identity.variant_words)


@dataclass(frozen=True)
class Comparison:
    table: str  # "which backend", "mode", "keras cost" (at best), "matched" (like for like)
    run: str
    label: str  # what is compared, in words (the same on two runs of one plan)
    a: Variant
    b: Variant
    ratio: stats.Ratio

    @property
    def key(self) -> tuple:
        """What makes two comparisons the same question (across runs of one plan): the
        variants in a fixed order, whichever of them a run found faster."""
        return (self.table, self.label, *sorted((self.a, self.b)))

    @property
    def oriented(self) -> str:
        """The verdict of the variants in ``key``'s order."""
        if (self.a, self.b) == tuple(sorted((self.a, self.b))):
            return self.ratio.verdict
        return {"higher": "lower", "lower": "higher"}.get(self.ratio.verdict, self.ratio.verdict)


def comparisons(rep) -> list[Comparison]:
    """The comparisons of a ``Report`` (or of ``report.judge``'s verdict tables alone): the
    recommendation's (the pick against every other candidate, for a short and a long
    training), each mode against the default, and each framework's best Keras variant against
    its best native one, and each Keras variant against the native variant of its strategy."""
    out = []
    for r in rep.recommend.itertuples():
        for other, ratio in (r.against or {}).items():
            out.append(Comparison(
                "which backend", r.run,
                f"{r.dataset} {r.device_kind} {r.mode} {r.label} {r.by}",
                (r.spec, r.mode, r.impl, other), (r.spec, r.mode, r.impl, r.pick), ratio))
    for r in rep.modes.to_dict("records"):
        out.append(Comparison("mode", r["run"], f"{r['dataset']} {r['device']} {r['spec']} "
                              f"{r['backend']} {r['impl']}: default vs {r['mode']}",
                              *r["pair"], r["speed-up"]))
    for r in rep.native.to_dict("records") if len(rep.native) else ():
        if r.get("pair") and isinstance(r.get("Keras overhead"), stats.Ratio):
            out.append(Comparison("keras cost", r["run"], f"{r['dataset']} {r['device']} "
                                  f"{r['spec']} {r['framework']}: best Keras vs best native",
                                  *r["pair"], r["Keras overhead"]))
    for r in rep.matched.to_dict("records") if len(rep.matched) else ():
        if r.get("pair") and isinstance(r.get("Keras / native"), stats.Ratio):
            out.append(Comparison("matched", r["run"], f"{r['dataset']} {r['device']} "
                                  f"{r['spec']} {r['framework']}: Keras {r['keras mode']} vs "
                                  f"native {r['native mode']} ({r['strategy']})",
                                  *r["pair"], r["Keras / native"]))
    return out


def open_variants(comps: list[Comparison]) -> set:
    """The variants that take part in at least one comparison not yet decided."""
    return {v for c in comps if not c.ratio.decided for v in (c.a, c.b)}


def replication(old: list[Comparison], new: list[Comparison]) -> dict:
    """How the verdicts of the comparisons two runs share agree: ``same`` (one verdict on both
    sides, decided), ``flipped`` (decided on both sides, differently), ``one side`` (decided on one
    side only), ``neither`` (open on both), and the compared pairs (key, old, new verdicts)."""
    a = {c.key: c for c in old}
    b = {c.key: c for c in new}
    counts = {"same": 0, "flipped": 0, "one side": 0, "neither": 0}
    pairs = []
    for key in [k for k in a if k in b]:
        x, y = a[key], b[key]
        if x.ratio.decided and y.ratio.decided:
            counts["same" if x.oriented == y.oriented else "flipped"] += 1
        elif x.ratio.decided or y.ratio.decided:
            counts["one side"] += 1
        else:
            counts["neither"] += 1
        pairs.append((key, x.oriented, y.oriented))
    return {**counts, "pairs": pairs}
