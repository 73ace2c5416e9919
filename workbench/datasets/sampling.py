"""Seeded, family-stratified sampling, so that a small limit still covers every family."""

from __future__ import annotations

import random
from collections.abc import Sequence

from workbench.datasets.items import QAItem


def stratified_sample(items: Sequence[QAItem], *, limit: int, seed: int) -> list[QAItem]:
    """``limit`` items without replacement, in their input order; deterministic for a seed.

    Every family gets one item when the limit allows, and the rest is shared in proportion to family size.
    """
    if limit >= len(items):
        return list(items)
    positions: dict[str, list[int]] = {}
    for position, item in enumerate(items):
        positions.setdefault(item.family, []).append(position)
    quotas = _quotas({family: len(p) for family, p in positions.items()}, limit=limit, seed=seed)
    chosen = []
    for family in sorted(positions):
        chosen += random.Random(f"{seed}/{family}").sample(positions[family], quotas[family])
    return [items[position] for position in sorted(chosen)]


def _quotas(sizes: dict[str, int], *, limit: int, seed: int) -> dict[str, int]:
    """Items per family: one each, then the rest by largest remainder in proportion to what is left."""
    families = sorted(sizes)
    if limit < len(families):
        picked = set(random.Random(seed).sample(families, limit))
        return {family: int(family in picked) for family in families}
    spare = {family: sizes[family] - 1 for family in families}
    extra, total = limit - len(families), sum(spare.values())
    shares = {family: extra * spare[family] / total for family in families} if total else dict.fromkeys(families, 0.0)
    quotas = {family: 1 + int(shares[family]) for family in families}
    by_remainder = sorted(families, key=lambda family: (int(shares[family]) - shares[family], family))
    for family in by_remainder[: limit - sum(quotas.values())]:
        quotas[family] += 1
    return quotas
