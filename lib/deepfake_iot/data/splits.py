"""Splits that never cut a video, a group or an identity, the proof that they don't, and class
balancing.

The splitting rule (``split_by_identity``): the *nodes* of a row are its identities (the
``identities`` column, the group when empty) and its group. ``identity_groups`` links rows that
share a node into connected components. ``apply_fixed_test`` keeps an official test list as the
test set and drops every other row sharing a node with it. The remaining rows get train/val
(and test when no list exists) a whole component at a time (``assign_splits``); a component
holding most of the data is cut instead: a set of its identities is grown for test (then val),
its videos showing only those identities take that split, and the videos showing some of them
and others are dropped. ``leakage_report`` checks the result: no video, group or identity in two
splits.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from deepfake_iot.data.schema import LABEL_NAMES, SPLITS, join_identities, split_identities


def _check_ratios(ratios) -> None:
    if len(ratios) != 3 or min(ratios) < 0 or not np.isclose(sum(ratios), 1.0):
        raise ValueError(
            f"split_ratios must be three non-negative numbers summing to 1, got {ratios}"
        )


def assign_splits(frame: pd.DataFrame, ratios: list[float], seed: int) -> pd.DataFrame:
    """Give every row without an official split a train/val/test split, whole groups at a time.

    Groups are stratified by their majority label and shuffled with ``seed``; each stratum's groups
    are cut where the cumulative crop count crosses the ratios. Rows whose ``split`` is already set
    (an official split file) keep it, and any group that already has a split keeps it for all rows.
    The groups are taken as they are: identities are not looked at (``split_by_identity`` does,
    and calls this on identity components).
    """
    _check_ratios(ratios)
    frame = frame.copy()
    frame["split"] = frame["split"].fillna("").astype(str)
    official = frame[frame["split"] != ""].groupby("group")["split"].first()
    frame.loc[frame["group"].isin(official.index), "split"] = frame["group"].map(official)
    todo = frame[frame["split"] == ""]
    if todo.empty:
        return frame
    by_group = todo.groupby("group").agg(
        label=("label", lambda s: int(round(s.mean()))), size=("label", "size")
    )
    rng = np.random.default_rng(seed)
    bounds = np.cumsum(ratios)[:2]
    chosen: dict[str, str] = {}
    for _, stratum in by_group.groupby("label"):
        order = stratum.index.to_numpy()[rng.permutation(len(stratum))]
        sizes = stratum.loc[order, "size"].to_numpy()
        position = (np.cumsum(sizes) - sizes / 2) / sizes.sum()  # each group's centre in [0, 1]
        names = np.array(SPLITS)[np.searchsorted(bounds, position, side="right")]
        chosen.update(zip(order, names, strict=True))
    frame.loc[frame["split"] == "", "split"] = frame["group"].map(chosen)
    return frame


def _row_nodes(frame: pd.DataFrame) -> list[frozenset]:
    """The nodes of each row: its identities (the group when there are none) and its group."""
    groups = frame["group"].astype(str).tolist()
    cells = frame["identities"].tolist() if "identities" in frame else [""] * len(frame)
    cache: dict[tuple, frozenset] = {}
    nodes = []
    for group, cell in zip(groups, cells, strict=True):
        key = (group, cell if isinstance(cell, str) else "")
        if key not in cache:
            cache[key] = frozenset(split_identities(key[1]) or (group,)) | {group}
        nodes.append(cache[key])
    return nodes


def _component_names(frame: pd.DataFrame, nodes: list[frozenset]) -> pd.Series:
    """Connected components of rows linked by shared nodes (scipy's graph search), each named
    by its smallest group."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    index = {name: k for k, name in enumerate(sorted(set().union(*nodes)))} if nodes else {}
    edges = [(index[min(row)], index[other]) for row in set(nodes) for other in row]
    rows, cols = zip(*edges, strict=True) if edges else ((), ())
    graph = coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(index), len(index)))
    _, labels = connected_components(graph, directed=False)
    roots = pd.Series([labels[index[min(n)]] for n in nodes], index=frame.index)
    names = frame["group"].astype(str).groupby(roots).min()
    return roots.map(names)


def identity_groups(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame with ``group`` replaced by its identity component.

    Two rows are in one component when they share an identity or a group, directly or through
    other rows (a face swap links its target's and its donor's videos), so splitting whole
    components can put no identity and no group in two splits. A component is named by the
    smallest group name it holds (unique, since groups never straddle components, and
    independent of row order). Empty ``identities`` cells are filled with the row's group (a
    frame without the column gets one): the group stood for the identity.
    """
    frame = frame.copy()
    nodes = _row_nodes(frame)
    groups = frame["group"].astype(str)
    cells = frame["identities"] if "identities" in frame else pd.Series("", index=frame.index)
    filled = [
        cell if split_identities(cell) else join_identities([group])
        for cell, group in zip(cells, groups, strict=True)
    ]
    if "identities" not in frame:
        frame.insert(frame.columns.get_loc("group") + 1, "identities", "")
    frame["identities"] = filled
    frame["group"] = _component_names(frame, nodes)
    return frame


def _counts(part: pd.DataFrame) -> dict:
    return {"videos": int(part["video_id"].nunique()), "crops": int(len(part))}


def apply_fixed_test(
    frame: pd.DataFrame, *, fill_missing_class: bool = True
) -> tuple[pd.DataFrame, dict]:
    """Keep the rows of an official test list (split "test") as the test set, nothing added, and
    drop every other row that shares an identity (or group) with one of them.

    No split is propagated: a test row's group-mates that are not listed are dropped, not moved
    to test. One exception, ``fill_missing_class``: when the listed rows are all of one class
    (DeeperForensics lists fakes only), unsplit rows of the other class whose every node belongs
    to the test rows (a test actor's real videos) join the test set, so that it holds both
    classes; with both classes listed the list is exact.

    Returns ``(kept, info)``; ``info`` has ``test_videos``, ``test_crops``, ``added_videos``
    (the exception above), ``dropped_videos``, ``dropped_crops``, ``dropped_by_split`` (videos
    per former split, "" as "unsplit") and ``dropped_video_ids``; ``kept.attrs["fixed_test"]``
    holds it without the id list. Call it before ``identity_groups``: on components it drops
    whole components.
    """
    frame = frame.copy()
    frame["split"] = frame["split"].fillna("").astype(str)
    nodes = _row_nodes(frame)
    is_test = (frame["split"] == "test").to_numpy()
    test_nodes = frozenset().union(*(n for n, t in zip(nodes, is_test, strict=True) if t))
    shares = np.array([bool(n & test_nodes) for n in nodes]) & ~is_test
    added = np.zeros(len(frame), bool)
    listed = frame.loc[is_test, "label"].unique()
    if fill_missing_class and len(listed) == 1:
        inside = np.array([n <= test_nodes for n in nodes])
        added = (
            inside & (frame["split"] == "").to_numpy() & (frame["label"] != listed[0]).to_numpy()
        )
        frame.loc[added, "split"] = "test"
        shares &= ~added
    dropped = frame[shares]
    by_split = dropped.groupby("split")["video_id"].nunique()
    info = {
        "test_videos": int(frame.loc[is_test | added, "video_id"].nunique()),
        "test_crops": int((is_test | added).sum()),
        "added_videos": int(frame.loc[added, "video_id"].nunique()),
        **{f"dropped_{k}": v for k, v in _counts(dropped).items()},
        "dropped_by_split": {(k or "unsplit"): int(v) for k, v in by_split.items()},
        "dropped_video_ids": sorted(dropped["video_id"].astype(str).unique()),
    }
    kept = frame[~shares].reset_index(drop=True)
    kept.attrs["fixed_test"] = {k: v for k, v in info.items() if k != "dropped_video_ids"}
    return kept, info


def _grow_identity_set(
    nodes: list[frozenset], weights: np.ndarray, share: float, total: float,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Grow a set of nodes until the videos made only of them (chosen) weigh ``share`` of what
    is kept: ``total`` less the videos made partly of them (dropped).

    Greedy: each step adds the node that most increases (weight of videos completed) minus
    (weight of videos newly touched but not completed), ties broken by a seeded random rank.
    Returns (chosen, dropped) masks over the videos.
    """
    names = sorted(frozenset().union(*nodes))
    index = {name: i for i, name in enumerate(names)}
    video_of = np.array([v for v, n in enumerate(nodes) for _ in n], dtype=np.int64)
    node_of = np.array([index[name] for n in nodes for name in n], dtype=np.int64)
    size = np.array([len(n) for n in nodes])
    rank = rng.permutation(len(names))
    taken = np.zeros(len(names), bool)
    inside = np.zeros(len(nodes), dtype=np.int64)

    def short() -> bool:
        dropped = weights[(inside > 0) & (inside < size)].sum()
        return weights[inside == size].sum() < share * (total - dropped)

    while short() and not taken.all():
        completes = inside + 1 == size
        gain = weights * (completes * (1 + (inside > 0)) - ((inside == 0) & ~completes))
        score = np.bincount(node_of, weights=gain[video_of], minlength=len(names))
        score[taken] = -np.inf
        best = np.flatnonzero(score == score.max())
        pick = best[np.argmin(rank[best])]
        taken[pick] = True
        inside[video_of[node_of == pick]] += 1
    chosen = inside == size
    return chosen, (inside > 0) & ~chosen


def _carve(
    frame: pd.DataFrame, rows: np.ndarray, nodes: list[frozenset], shares: dict, seed: int
) -> tuple[pd.Series, np.ndarray]:
    """Splits for the rows of one component too big to keep whole, and the rows to drop.

    For test, then val (``shares``: split -> share of the component's kept crops), a set of
    identities is grown (``_grow_identity_set``); videos showing only those identities take the
    split, videos showing some of them are dropped; what is left is train.
    """
    part = frame.loc[rows]
    videos = part["video_id"].astype(str)
    order = sorted(videos.unique())
    video_nodes = {v: frozenset() for v in order}
    for video, row_nodes in zip(videos, (nodes[i] for i in rows), strict=True):
        video_nodes[video] = video_nodes[video] | row_nodes
    weights = videos.value_counts().reindex(order).to_numpy(dtype=float)
    total = weights.sum()  # less the crops dropped so far
    rng = np.random.default_rng(seed)
    split_of = pd.Series("train", index=order)
    left = np.ones(len(order), bool)
    for split in ("test", "val"):
        if shares.get(split, 0) <= 0 or not left.any():
            continue
        candidates = np.flatnonzero(left)
        chosen, dropped = _grow_identity_set(
            [video_nodes[order[i]] for i in candidates], weights[candidates],
            shares[split], total, rng,
        )  # fmt: skip
        total -= weights[candidates[dropped]].sum()
        split_of.iloc[candidates[chosen]] = split
        split_of.iloc[candidates[dropped]] = ""
        left[candidates[chosen | dropped]] = False
    splits = videos.map(split_of)
    return splits, (splits == "").to_numpy()


def split_by_identity(
    frame: pd.DataFrame, ratios: list[float], seed: int, *, max_component_share: float = 0.5
) -> tuple[pd.DataFrame, dict]:
    """Splits in which no identity, group or video is in two splits; the official test list,
    when there is one, is the test set (the rule is the module's docstring).

    1. Rows with split "test" (an official list) are the test set: ``apply_fixed_test`` drops
       every other row sharing an identity with them.
    2. The other rows are linked into identity components (``identity_groups``); a component
       holding official train/val rows takes the split most of its official crops have.
    3. The other components get a split whole (``assign_splits`` with ``ratios``, train/val only
       after an official list), except one holding more than ``max_component_share`` of the
       crops with two or more identities: it is cut by identities (``_carve``), and videos that
       would straddle two splits are dropped.

    Returns ``(frame, info)``: the kept rows with ``split`` set and ``group`` replaced by the final
    identity component; ``info`` (also ``frame.attrs["split_info"]``, less the id list) has
    ``test_rule`` ("official", "components" or "carved"), test videos and crops, what was dropped
    and why, ``added_test_videos``, ``carved_component``, ``relabelled_videos``, ``components``
    and ``dropped_video_ids``. Deterministic for a frame, ratios and seed.
    """
    _check_ratios(ratios)
    if not 0 < max_component_share <= 1:
        raise ValueError(f"max_component_share must be in (0, 1], got {max_component_share}")
    frame = frame.copy().reset_index(drop=True)
    frame["split"] = frame["split"].fillna("").astype(str)
    dropped_ids: list[str] = []
    fixed = {"dropped_videos": 0, "dropped_crops": 0, "added_videos": 0}
    rest = [float(r) for r in ratios]
    test_rule = "components"
    if (frame["split"] == "test").any():
        frame, fixed = apply_fixed_test(frame)
        dropped_ids += fixed["dropped_video_ids"]
        test_rule = "official"
        kept_share = rest[0] + rest[1]
        rest = [rest[0] / kept_share, rest[1] / kept_share, 0.0] if kept_share else [1.0, 0, 0]
    nodes = _row_nodes(frame)
    component = _component_names(frame, nodes)
    relabelled = _follow_official_majority(frame, component)
    giant = _giant_component(frame, component, nodes, max_component_share)
    carved_name, carved_drop = "", {"videos": 0, "crops": 0}
    if giant.any():
        rows = np.flatnonzero(giant)
        splits, drop = _carve(frame, rows, nodes, {"test": rest[2], "val": rest[1]}, seed)
        frame.loc[rows, "split"] = splits.to_numpy()
        carved_name = str(component.iloc[rows[0]])
        carved_drop = _counts(frame.loc[rows[drop]])
        dropped_ids += sorted(frame.loc[rows[drop], "video_id"].astype(str).unique())
        if test_rule == "components" and rest[2] > 0:
            test_rule = "carved"
    others = ~giant
    if others.any():
        grouped = frame[others].assign(group=component[others])
        frame.loc[others, "split"] = assign_splits(grouped, rest, seed)["split"].to_numpy()
    frame = identity_groups(frame[frame["split"] != ""]).reset_index(drop=True)
    info = _split_info(frame, test_rule, fixed, carved_name, carved_drop, relabelled, dropped_ids)
    frame.attrs["split_info"] = {k: v for k, v in info.items() if k != "dropped_video_ids"}
    return frame, info


def _follow_official_majority(frame: pd.DataFrame, component: pd.Series) -> int:
    """A component holding official train/val rows takes the split most of its official crops
    have (in place); returns how many videos changed split."""
    official = frame["split"].isin(["train", "val"])
    if not official.any():
        return 0
    crops = frame[official].groupby([component[official], frame["split"][official]]).size()
    crops = crops.unstack(fill_value=0).reindex(columns=["train", "val"], fill_value=0)
    majority = pd.Series(np.where(crops["train"] >= crops["val"], "train", "val"), index=crops.index)
    in_official = component.isin(majority.index)
    moved = in_official & official & (frame["split"] != component.map(majority))
    relabelled = int(frame.loc[moved, "video_id"].nunique())
    frame.loc[in_official, "split"] = component[in_official].map(majority)
    return relabelled


def _giant_component(frame: pd.DataFrame, component: pd.Series, nodes: list[frozenset], max_share: float) -> np.ndarray:
    """Rows of the largest component without a split when it holds more than ``max_share`` of
    the crops and at least two identities (it is then cut by identities), else none."""
    free = frame["split"] == ""
    sizes = component[free].value_counts()
    giant = np.zeros(len(frame), bool)
    if not len(sizes):
        return giant
    biggest = sizes[sizes == sizes.max()].index.min()
    giant = (component == biggest).to_numpy() & free.to_numpy()
    rows = np.flatnonzero(giant)
    if sizes[biggest] <= max_share * len(frame) or len(frozenset().union(*(nodes[i] for i in rows))) < 2:
        giant[:] = False
    return giant


def _split_info(frame, test_rule, fixed, carved_name, carved_drop, relabelled, dropped_ids) -> dict:
    test = frame["split"] == "test"
    return {
        "test_rule": test_rule,
        "test_videos": int(frame.loc[test, "video_id"].nunique()),
        "test_crops": int(test.sum()),
        "dropped_videos": int(fixed["dropped_videos"]) + carved_drop["videos"],
        "dropped_crops": int(fixed["dropped_crops"]) + carved_drop["crops"],
        "dropped_for_official_test": {
            "videos": int(fixed["dropped_videos"]),
            "crops": int(fixed["dropped_crops"]),
        },
        "dropped_for_carving": carved_drop,
        "added_test_videos": int(fixed["added_videos"]),
        "carved_component": carved_name,
        "relabelled_videos": relabelled,
        "components": int(frame["group"].nunique()),
        "dropped_video_ids": sorted(dropped_ids),
    }


def check_splits(frame: pd.DataFrame) -> None:
    """Stop before training on a split that is empty or holds a single class."""
    for split in SPLITS:
        part = frame[frame["split"] == split]
        if part.empty:
            raise ValueError(f"split '{split}' is empty: add data or change split_ratios")
        missing = sorted(set(LABEL_NAMES) - set(part["label"].unique()))
        if missing:
            names = ", ".join(LABEL_NAMES[m] for m in missing)
            raise ValueError(
                f"split '{split}' has no {names} crops: add data or change split_ratios"
            )


def leakage_report(frame: pd.DataFrame) -> pd.DataFrame:
    """Videos, groups and identities that appear in more than one split (an empty table is the
    goal). ``kind`` is ``video_id``, ``group`` or ``identity``; an empty ``identities`` cell (or
    no column) adds no identity, its group is checked as a group."""
    rows = []
    for key in ("video_id", "group"):
        spread = frame.groupby(key)["split"].nunique()
        for name in spread[spread > 1].index:
            rows.append(
                {
                    "kind": key,
                    "name": name,
                    "splits": ",".join(sorted(frame.loc[frame[key] == name, "split"].unique())),
                }
            )
    if "identities" in frame:
        pairs = pd.DataFrame({"identities": frame["identities"].to_numpy(),
                              "split": frame["split"].to_numpy()}).drop_duplicates()  # fmt: skip
        pairs["identity"] = pairs["identities"].map(split_identities).map(list)
        pairs = pairs.explode("identity").dropna(subset=["identity"])
        spread = pairs.groupby("identity")["split"].nunique()
        for name in spread[spread > 1].index:
            splits = sorted(pairs.loc[pairs["identity"] == name, "split"].unique())
            rows.append({"kind": "identity", "name": name, "splits": ",".join(splits)})
    return pd.DataFrame(rows, columns=["kind", "name", "splits"])


def balance_classes(frame: pd.DataFrame, mode: str, seed: int) -> pd.DataFrame:
    """``none`` keeps every crop (training uses class weights); ``undersample`` drops whole videos
    of the larger class in each split until both classes hold about as many crops."""
    if mode == "none":
        return frame
    if mode != "undersample":
        raise ValueError(f"balance must be 'none' or 'undersample', got '{mode}'")
    rng = np.random.default_rng(seed)
    keep = []
    for _, part in frame.groupby("split"):
        counts = part.groupby("label").size()
        small = counts.min()
        for label, group in part.groupby("label"):
            videos = group["video_id"].unique()
            videos = videos[rng.permutation(len(videos))]
            sizes = group.groupby("video_id").size()
            running, chosen = 0, []
            for video in videos:
                if running >= small and label == counts.idxmax():
                    break
                chosen.append(video)
                running += sizes[video]
            keep.append(group[group["video_id"].isin(chosen)])
    return pd.concat(keep).sort_values(["video_id", "frame_index"]).reset_index(drop=True)


def counts_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Crops per method (rows) and split (columns), with videos and a total row."""
    table = frame.pivot_table(
        index="method", columns="split", values="path", aggfunc="count", fill_value=0
    )
    table = table.reindex(columns=[s for s in SPLITS if s in table.columns])
    table["videos"] = frame.groupby("method")["video_id"].nunique()
    table["total"] = table[[s for s in SPLITS if s in table.columns]].sum(axis=1)
    order = ["real"] + sorted(m for m in table.index if m != "real")
    table = table.reindex([m for m in order if m in table.index])
    table.loc["all"] = table.sum()
    return table.reset_index().rename(columns={"method": "method"})
