"""When the maximum-likelihood Bradley-Terry scores exist: the comparison graph's test.

Draw an edge from each loser to its winner. With :math:`\\alpha = 0` the minimum of Eq. (1)
of ``bradley_terry`` is attained if and only if this directed graph is strongly connected
(Ford 1957; Hunter 2004, Assumption 1): for every split of the items into two groups, some
item of each group beat some item of the other. Otherwise a group that only ever beats the
rest can raise the likelihood forever by moving its scores away from the others'. The
cheapest failures (an item that never wins or never loses) are named first; the general
case runs scipy's strongly-connected-components search on the pairs that occurred.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from npml.preference.bradley_terry import PairCounts


def check_mle_exists(counts: PairCounts) -> None:
    """Raise ``ValueError`` when the maximum-likelihood scores do not exist (alpha = 0)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    n = counts.wins.size
    if n == 1:
        return
    hint = (
        "so the maximum-likelihood scores do not exist (the likelihood keeps growing as "
        "scores go to +-infinity). Fit with alpha > 0 (an L2 prior, e.g. alpha=0.01) to get "
        "finite scores."
    )
    for what, count in (("never win", counts.wins), ("never lose", counts.losses)):
        bad = np.flatnonzero(count == 0)
        if bad.size:
            shown = ", ".join(map(str, bad[:10])) + (", ..." if bad.size > 10 else "")
            raise ValueError(f"with alpha=0, {bad.size} item(s) {what} (items {shown}), {hint}")
    # Edge loser -> winner for each direction that occurred at least once.
    i, j = counts.pair_i, counts.pair_j
    i_won = counts.w_ij > 0  # i beat j at least once: edge j -> i
    j_won = counts.w_ij < counts.n_ij  # edge i -> j
    src = np.concatenate([j[i_won], i[j_won]])
    dst = np.concatenate([i[i_won], j[j_won]])
    graph = coo_matrix((np.ones(src.size), (src, dst)), shape=(n, n)).tocsr()
    n_comp, labels = connected_components(graph, directed=True, connection="strong")
    if n_comp > 1:
        sizes = np.bincount(labels)
        raise ValueError(
            f"with alpha=0, the comparison graph (an edge from each loser to its winner) is "
            f"not strongly connected: it splits into {n_comp} groups of sizes "
            f"{sorted(sizes.tolist(), reverse=True)[:10]}, and some group never lost to "
            f"the items outside it, {hint}"
        )
