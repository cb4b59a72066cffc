"""Two-objective Pareto fronts and their exact hypervolume: maximise accuracy, minimise latency.

Points are ``(accuracy, latency)`` rows. The hypervolume is the area dominated by the points and
bounded by a reference point ``(worst accuracy, worst latency)``; points not strictly better than
the reference in both objectives add nothing.
"""
from __future__ import annotations

import numpy as np


def _points(acc, lat) -> tuple[np.ndarray, np.ndarray]:
    acc, lat = np.asarray(acc, dtype=float), np.asarray(lat, dtype=float)
    if acc.shape != lat.shape or acc.ndim != 1:
        raise ValueError(f"accuracy and latency must be 1-D and of one length, got {acc.shape} and {lat.shape}")
    return acc, lat


def pareto_mask(acc, lat) -> np.ndarray:
    """(n,) True for the non-dominated points (of exact duplicates only the first is kept)."""
    acc, lat = _points(acc, lat)
    order = np.lexsort((np.arange(len(acc)), -acc, lat))  # latency up, then accuracy down, then index
    mask = np.zeros(len(acc), dtype=bool)
    best_acc = -np.inf
    for i in order:
        if acc[i] > best_acc:
            mask[i] = True
            best_acc = acc[i]
    return mask


def pareto_front(acc, lat) -> np.ndarray:
    """(m, 2) non-dominated (accuracy, latency) points sorted by latency."""
    acc, lat = _points(acc, lat)
    mask = pareto_mask(acc, lat)
    front = np.stack([acc[mask], lat[mask]], axis=1)
    return front[np.argsort(front[:, 1], kind="stable")]


def nondominated_ranks(acc, lat) -> np.ndarray:
    """(n,) front index of every point: 0 = Pareto front, 1 = front once that is removed, ..."""
    acc, lat = _points(acc, lat)
    ranks = np.full(len(acc), -1)
    remaining = np.arange(len(acc))
    level = 0
    while len(remaining):
        mask = pareto_mask(acc[remaining], lat[remaining])
        ranks[remaining[mask]] = level
        remaining = remaining[~mask]
        level += 1
    return ranks


def hypervolume(acc, lat, ref_acc: float, ref_lat: float) -> float:
    """Exact 2-D hypervolume of the points w.r.t. the reference ``(ref_acc, ref_lat)``."""
    acc, lat = _points(acc, lat)
    inside = (acc > ref_acc) & (lat < ref_lat)
    front = pareto_front(acc[inside], lat[inside])  # latency ascending => accuracy ascending
    volume, upper = 0.0, ref_lat
    for a, l in front[::-1]:  # from the most accurate (slowest) to the fastest
        volume += (a - ref_acc) * (upper - l)
        upper = l
    return float(volume)


def hypervolume_gains(acc, lat, front_acc, front_lat, ref_acc: float, ref_lat: float) -> np.ndarray:
    """(n,) hypervolume each candidate point would add to the front on its own."""
    base = hypervolume(front_acc, front_lat, ref_acc, ref_lat)
    return np.array([hypervolume(np.append(front_acc, a), np.append(front_lat, l), ref_acc, ref_lat) - base
                     for a, l in zip(np.asarray(acc, float), np.asarray(lat, float))])
