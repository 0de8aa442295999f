"""List the media of a real dataset on disk, one row per video or image (an *item*).

Every indexer returns a DataFrame with the columns of ``ITEM_COLUMNS``: ``media_path``
(absolute), ``source_path`` (relative to the dataset root, POSIX), ``media_type`` ("video" or
"image"), ``label`` (0 real, 1 fake), ``method`` ("real" for reals), ``video_id`` (unique,
prefixed by the dataset), ``group`` (leakage group: splits must never cut one),
``identities`` (every identity the item shows, dataset-prefixed names, sorted and ';'-joined:
``schema.join_identities``; a face swap shows its target and its donor), ``dataset`` and
``split`` ("" when the dataset defines none, else train/val/test). Rows are sorted by video_id.
Counts worth reporting (videos outside the official splits, listed files that are missing) are
in ``frame.attrs["counts"]``. How each layout maps to labels, groups, identities and splits is
in the docstring of its indexer; ``splits.split_by_identity`` turns identities into splits.

Identities are only as fine as a layout allows: Celeb-DF and DeeperForensics name their people;
FF++ names source videos (two FF++ videos of one person are two identities); the still-image
sets (both Kaggle sets) and ``generic`` name no one, so each item is its own identity and only
image-disjoint splits can be promised.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd

from deepfake_iot.data.schema import join_identities

ITEM_COLUMNS = (
    "media_path", "source_path", "media_type", "label", "method",
    "video_id", "group", "identities", "dataset", "split",
)  # fmt: skip
VIDEO_SUFFIXES = frozenset({".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v"})
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"})
FFPP_METHODS = ("Deepfakes", "Face2Face", "FaceSwap", "NeuralTextures", "FaceShifter")
SPLIT_ALIASES = {
    "train": "train", "training": "train", "val": "val", "valid": "val",
    "validation": "val", "test": "test", "testing": "test",
}  # fmt: skip


def safe_id(text: str) -> str:
    """Make a path-like string usable as a folder name: '/' -> '__', other odd chars -> '_'."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text.replace("\\", "/").replace("/", "__"))


def _require_dir(path: Path, expected: str) -> Path:
    if not path.is_dir():
        raise FileNotFoundError(f"{path} is not a folder; expected {expected}")
    return path


def _media_files(folder: Path, suffixes=VIDEO_SUFFIXES | IMAGE_SUFFIXES) -> list[Path]:
    """Media files below ``folder`` (recursive, sorted, hidden files ignored)."""
    files = folder.rglob("*")
    return sorted(p for p in files if p.suffix.lower() in suffixes and not p.name.startswith("."))


def _find_child(folder: Path, name: str) -> Path | None:
    """The child folder named ``name``, ignoring case (None when absent)."""
    if not folder.is_dir():
        return None
    for child in sorted(folder.iterdir()):
        if child.is_dir() and child.name.lower() == name.lower():
            return child
    return None


def _item(root: Path, path: Path, label: int, method: str, video_id: str, **fields) -> dict:
    """One item row; ``fields``: dataset, split, group (default: the item is its own group) and
    identities (a list of names; default: the group is the one identity)."""
    media_type = "video" if path.suffix.lower() in VIDEO_SUFFIXES else "image"
    row = {"media_path": str(path.resolve()), "source_path": path.relative_to(root).as_posix()}
    row.update(media_type=media_type, label=label, method=method, video_id=video_id)
    group = fields.get("group") or video_id
    identities = join_identities(fields.get("identities") or [group])
    row.update(group=group, identities=identities, dataset=fields["dataset"])
    return {**row, "split": fields.get("split", "")}


def _require_files(files: list[Path], folder: Path, expected: str) -> list[Path]:
    if not files:
        raise ValueError(f"no media found in {folder}; expected {expected}")
    return files


def _to_frame(rows: list[dict], root: Path, counts: dict | None = None) -> pd.DataFrame:
    if not rows:
        raise ValueError(f"no media found under {root}")
    frame = pd.DataFrame(rows, columns=list(ITEM_COLUMNS))
    duplicated = frame["video_id"][frame["video_id"].duplicated()].tolist()
    if duplicated:
        raise ValueError(f"video ids are not unique under {root}: {duplicated[:5]}")
    for label, name in ((0, "real"), (1, "fake")):
        if not (frame["label"] == label).any():
            raise ValueError(f"no {name} media found under {root}; a dataset needs both classes")
    frame = frame.sort_values("video_id", kind="stable").reset_index(drop=True)
    frame["label"] = frame["label"].astype(int)
    frame.attrs["counts"] = dict(counts or {})
    return frame


def _ffpp_fakes(root: Path, compression: str, methods) -> dict[str, list[Path]]:
    """Each manipulation method's fake videos (a method named in ``methods`` must exist)."""
    fakes: dict[str, list[Path]] = {}
    for method in methods if methods is not None else FFPP_METHODS:
        method_dir = root / "manipulated_sequences" / method / compression / "videos"
        if not method_dir.is_dir():
            if methods is not None:
                _require_dir(method_dir, f"the {method} videos ({compression}) as TTT_SSS.mp4")
            continue
        fakes[method] = _require_files(_media_files(method_dir, VIDEO_SUFFIXES), method_dir, "TTT_SSS.mp4 videos")
    if not fakes:
        raise ValueError(f"no manipulated_sequences/<Method>/{compression}/videos under {root}")
    return fakes


def _ffpp_splits(root: Path, splits_dir) -> tuple[dict, dict]:
    """``(pair of each source id, split of each pair)`` from the official split files
    (``splits_dir``, default ``<root>/splits``; a folder given must exist)."""
    pair_of: dict[str, tuple[str, str]] = {}
    split_of: dict[tuple[str, str], str] = {}
    explicit = splits_dir is not None
    splits_dir = Path(splits_dir) if explicit else root / "splits"
    if explicit:
        _require_dir(splits_dir, "train.json, val.json and test.json (FF++ official splits)")
    if not splits_dir.is_dir():
        return pair_of, split_of
    for split in ("train", "val", "test"):
        split_file = splits_dir / f"{split}.json"
        if not split_file.is_file():
            raise FileNotFoundError(f"{split_file} is missing; expected a JSON list of pairs")
        for pair in json.loads(split_file.read_text()):
            if not (isinstance(pair, list) and len(pair) == 2):
                raise ValueError(f"{split_file}: expected pairs like ['071', '054'], got {pair}")
            key = tuple(sorted(str(v) for v in pair))
            split_of[key] = split
            pair_of.update({key[0]: key, key[1]: key})
    return pair_of, split_of


def index_ffpp(root, *, compression: str = "c23", methods=None, splits_dir=None) -> pd.DataFrame:
    """FaceForensics++: ``original_sequences/youtube/<comp>/videos/NNN.mp4`` (real) and
    ``manipulated_sequences/<Method>/<comp>/videos/TTT_SSS.mp4`` (fake, method = folder name).

    Groups are the official id pairs, e.g. ``ffpp_000_003`` for the source videos 000 and 003
    and the fakes 000_003 and 003_000. Identities are the source videos shown: ``ffpp_000`` for
    the real 000, ``ffpp_000;ffpp_003`` for the fakes 000_003 and 003_000 (target and donor of a
    swap; a reenactment's driver is counted too, to be safe). FF++ does not say which videos show
    the same person, so two videos of one person stay two identities. The split of an item is
    the split of its pair in ``splits_dir/{train,val,test}.json`` (default ``<root>/splits``);
    items in no split file get "" and are counted in ``attrs["counts"]["unsplit"]``. Without
    split files the pairs are derived from the fake file names, and every split is "".
    """
    root = _require_dir(Path(root), "the FaceForensics++ root holding original_sequences/")
    if compression not in ("raw", "c23", "c40"):
        raise ValueError(f"FF++ compression must be raw, c23 or c40, got {compression!r}")
    real_dir = root / "original_sequences" / "youtube" / compression / "videos"
    _require_dir(real_dir, f"the FF++ source videos ({compression}) as NNN.mp4")
    reals = _require_files(_media_files(real_dir, VIDEO_SUFFIXES), real_dir, "NNN.mp4 videos")
    fakes = _ffpp_fakes(root, compression, methods)
    pair_of, split_of = _ffpp_splits(root, splits_dir)

    parsed = []
    for method, files in fakes.items():
        for path in files:
            match = re.fullmatch(r"(\d+)_(\d+)", path.stem)
            if not match:
                raise ValueError(f"{path}: expected an FF++ fake named TTT_SSS.mp4")
            parsed.append((method, path, match.group(1), match.group(2)))
            key = tuple(sorted(match.groups()))
            pair_of.setdefault(key[0], key)
            pair_of.setdefault(key[1], key)

    rows, unsplit = [], 0
    for path in reals:
        key = pair_of.get(path.stem, (path.stem,))
        split = split_of.get(key, "")
        unsplit += split == ""
        video_id, group = f"ffpp_{compression}_real_{path.stem}", "ffpp_" + "_".join(key)
        identities = [f"ffpp_{path.stem}"]
        rows.append(_item(root, path, 0, "real", video_id, group=group, identities=identities,
                          dataset="ffpp", split=split))  # fmt: skip
    for method, path, target, source in parsed:
        key = pair_of.get(target, tuple(sorted((target, source))))
        split = split_of.get(key, "") if source in key else ""
        unsplit += split == ""
        video_id, group = f"ffpp_{compression}_{method}_{path.stem}", "ffpp_" + "_".join(key)
        identities = [f"ffpp_{target}", f"ffpp_{source}"]
        rows.append(_item(root, path, 1, method, video_id, group=group, identities=identities,
                          dataset="ffpp", split=split))  # fmt: skip
    return _to_frame(rows, root, {"unsplit": int(unsplit)})


def _celebdf_people(folder: str, stem: str) -> list[str]:
    """Target first, then donor: ``id0_id16_0000`` -> [id0, id16]; ``id0_0000`` -> [id0];
    a YouTube-real video is its own person (``yt_<stem>``)."""
    if folder == "YouTube-real":
        return [f"yt_{stem}"]
    match = re.fullmatch(r"(id\d+)_(id\d+)_.+", stem) if folder == "Celeb-synthesis" else None
    return [match.group(1), match.group(2)] if match else [stem.split("_")[0]]


def index_celebdf_v2(root, *, test_list: str = "List_of_testing_videos.txt") -> pd.DataFrame:
    """Celeb-DF v2: ``Celeb-real/`` and ``YouTube-real/`` (real), ``Celeb-synthesis/`` (fake,
    method ``celeb_synthesis``).

    Videos listed in ``List_of_testing_videos.txt`` (lines ``<label> <folder>/<file>.mp4``,
    **1 = real, 0 = fake**; a label contradicting the folder is an error) get split "test",
    the others "". Groups are target identities: ``id0_0000.mp4`` and the fake
    ``id0_id16_0000.mp4`` (made from the real video ``id0_0000`` with the face of id16) are both
    ``celebdf_id0``; YouTube-real videos are their own groups (``celebdf_yt_00001``). The
    identities of a fake are its target and its donor (``celebdf_id0;celebdf_id16``), of a real
    video its one person (``celebdf_id0``, ``celebdf_yt_00001``). The target-only group misses
    the donor, whose own real videos are in another group: split with
    ``splits.split_by_identity``, which keeps the official test list as the test set and drops
    the train/val videos sharing an identity with it.
    """
    root = _require_dir(Path(root), "the Celeb-DF v2 root holding Celeb-real/, Celeb-synthesis/")
    rows = []
    for folder, label in (("Celeb-real", 0), ("YouTube-real", 0), ("Celeb-synthesis", 1)):
        if not (root / folder).is_dir():
            continue
        for path in _media_files(root / folder, VIDEO_SUFFIXES):
            people = _celebdf_people(folder, path.stem)
            method = "real" if label == 0 else "celeb_synthesis"
            video_id = f"celebdf_{safe_id(folder)}_{safe_id(path.stem)}"
            names = [f"celebdf_{safe_id(person)}" for person in people]
            rows.append(_item(root, path, label, method, video_id, group=names[0],
                              identities=names, dataset="celebdf_v2"))  # fmt: skip
    counts = {"listed": 0, "listed_missing": 0}
    list_path = root / test_list
    if list_path.is_file():
        by_source = {row["source_path"]: row for row in rows}
        for number, line in enumerate(list_path.read_text().splitlines(), start=1):
            if not line.strip():
                continue
            parts = line.split()
            if len(parts) != 2 or parts[0] not in ("0", "1"):
                raise ValueError(f"{list_path}:{number}: expected '<1|0> <folder>/<file>.mp4'")
            counts["listed"] += 1
            row = by_source.get(parts[1].replace("\\", "/"))
            if row is None:
                counts["listed_missing"] += 1
                continue
            if row["label"] != (0 if parts[0] == "1" else 1):
                raise ValueError(
                    f"{list_path}:{number}: label {parts[0]} (1 = real) "
                    f"contradicts the folder of {parts[1]}"
                )
            row["split"] = "test"
    return _to_frame(rows, root, counts)


def index_deeperforensics(root, *, splits_dir=None) -> pd.DataFrame:
    """DeeperForensics-1.0: real ``source_videos/**.mp4`` and fake
    ``manipulated_videos/<perturbation>/**.mp4`` (method = perturbation folder, e.g.
    ``end_to_end``, ``end_to_end_level_3``, ``reenact_postprocess``), searched recursively.

    Assumptions: the first folder below ``source_videos/`` is the actor (``M004``, ``W112``);
    fakes are named ``<ffpp id>_<actor>.mp4`` (``000_M101``), the actor's face swapped into an
    FF++ video. Group = actor (``dfo_M101``), found in the file name, else the file stem.
    Identities: the actor, and for a fake also the FF++ target video whose head and body it
    keeps (``000_M101`` -> ``dfo_M101;ffpp_000``), named as ``index_ffpp`` names it. Splits:
    ``lists/splits/{train,val,test}.txt`` (default ``splits_dir``), one file name per line,
    applied to every video of that name; everything else, the reals included, gets "".
    """
    root = _require_dir(Path(root), "the DeeperForensics-1.0 root with source_videos/")
    source_dir = _require_dir(root / "source_videos", "the real videos (source_videos/<actor>/…)")
    manip_dir = _require_dir(root / "manipulated_videos", "manipulated_videos/<perturbation>/")
    splits_dir = Path(splits_dir) if splits_dir is not None else root / "lists" / "splits"
    split_by_name = {}
    for split in ("train", "val", "test"):
        split_file = splits_dir / f"{split}.txt"
        if split_file.is_file():
            for line in split_file.read_text().splitlines():
                if line.strip():
                    split_by_name[Path(line.strip()).name] = split
    rows = []
    reals = _require_files(_media_files(source_dir, VIDEO_SUFFIXES), source_dir, "real videos")
    fakes = [(p, folder.name) for folder in sorted(manip_dir.iterdir()) if folder.is_dir()
             for p in _media_files(folder, VIDEO_SUFFIXES)]  # fmt: skip
    for path, method in [(p, "real") for p in reals] + fakes:
        if method == "real":
            relative_to_source = path.relative_to(source_dir).parts
            actor = relative_to_source[0] if len(relative_to_source) > 1 else path.stem
        else:
            match = re.search(r"(?:^|_)([MW]\d{3})(?:_|$)", path.stem)
            actor = match.group(1) if match else path.stem
        group = f"dfo_{safe_id(actor)}"
        target = re.match(r"(\d+)_", path.stem) if method != "real" else None
        identities = [group] + ([f"ffpp_{target.group(1)}"] if target else [])
        video_id = "dfo_" + safe_id(path.relative_to(root).with_suffix("").as_posix())
        fields = {"group": group, "identities": identities, "dataset": "deeperforensics",
                  "split": split_by_name.get(path.name, "")}  # fmt: skip
        rows.append(_item(root, path, int(method != "real"), method, video_id, **fields))
    return _to_frame(rows, root, {"unsplit": sum(row["split"] == "" for row in rows)})


def _image_folder_rows(root, class_dir, label, method, prefix, dataset, split) -> list[dict]:
    """Rows for a folder of still images; each image is its own group and identity (the sets
    name no people)."""
    files = _require_files(_media_files(class_dir, IMAGE_SUFFIXES), class_dir, "image files")
    rows = []
    for path in files:
        video_id = f"{prefix}_{safe_id(path.relative_to(class_dir).with_suffix('').as_posix())}"
        rows.append(_item(root, path, label, method, video_id, dataset=dataset, split=split))
    return rows


def index_kaggle_real_fake(root) -> pd.DataFrame:
    """Kaggle "deepfake and real images" (manjilkarki): ``Dataset/{Train,Validation,Test}/
    {Real,Fake}/*.jpg`` (``root`` may be the folder holding ``Dataset/`` or ``Dataset/`` itself).

    Split from the folder (Validation -> val), label from the class folder, method "fake" for
    fakes (the source does not name the generator), group and identity = the image itself (the
    set names no people).
    """
    root = _require_dir(Path(root), "the folder holding Dataset/{Train,Validation,Test}/")
    base = _find_child(root, "Dataset") or root
    rows = []
    for split_dir in sorted(p for p in base.iterdir() if p.is_dir()):
        split = SPLIT_ALIASES.get(split_dir.name.lower())
        for name, label in (("real", 0), ("fake", 1)) if split else ():
            class_dir = _find_child(split_dir, name)
            if class_dir is None:
                raise FileNotFoundError(f"{split_dir / name.title()} is missing; expected images")
            prefix = f"kaggle_real_fake_{split}_{name}"
            rows += _image_folder_rows(
                root, class_dir, label, name, prefix, "kaggle_real_fake", split
            )
    if not rows:
        raise FileNotFoundError(f"no Train/Validation/Test folders in {base}")
    return _to_frame(rows, root)


def _kaggle_140k_csv_rows(root: Path, base: Path, csv_path: Path, split: str):
    """Rows listed by one of the 140k CSVs (label 1 = real); returns (rows, missing count)."""
    table = pd.read_csv(csv_path)
    if "path" not in table.columns or not {"label", "label_str"} & set(table.columns):
        raise ValueError(f"{csv_path}: expected columns 'path' and 'label' or 'label_str'")
    rows, missing = [], 0
    for record in table.to_dict("records"):
        if "label_str" in table.columns:
            name = str(record["label_str"]).strip().lower()
        else:
            name = "real" if int(record["label"]) == 1 else "fake"
        if name not in ("real", "fake"):
            raise ValueError(f"{csv_path}: label_str must be 'real' or 'fake', got {name!r}")
        if "label" in table.columns and int(record["label"]) != int(name == "real"):
            raise ValueError(f"{csv_path}: label {record['label']} (1 = real) contradicts "
                             f"label_str {name!r} for {record['path']}")  # fmt: skip
        path = base / str(record["path"])
        if not path.is_file():
            missing += 1
            continue
        method = "real" if name == "real" else "stylegan"
        video_id = f"kaggle_140k_{split}_{name}_{safe_id(path.stem)}"
        label = int(name == "fake")
        rows.append(_item(root, path, label, method, video_id, dataset="kaggle_140k", split=split))
    return rows, missing


def index_kaggle_140k(root, *, use_csv: bool = True) -> pd.DataFrame:
    """Kaggle "140k Real and Fake Faces" (xhlulu): images in
    ``real_vs_fake/real-vs-fake/{train,valid,test}/{real,fake}/*.jpg``.

    With ``train.csv``/``valid.csv``/``test.csv`` (columns ``original_path, id, label, label_str,
    path``; **label 1 = real, 0 = fake**, ``path`` like ``train/real/31355.jpg`` relative to
    ``real-vs-fake/``), rows come from the CSVs (listed images that are missing are counted in
    ``attrs["counts"]["missing"]``); without CSVs (or ``use_csv=False``), from the folders.
    Fakes are StyleGAN faces (method ``stylegan``); split from the CSV or folder name (valid ->
    val); group and identity = the image itself (FFHQ faces and StyleGAN faces, unnamed).
    """
    root = _require_dir(Path(root), "the 140k dataset root holding real_vs_fake/ and the CSVs")
    split_names = ("train", "valid", "test")
    candidates = [root / "real_vs_fake" / "real-vs-fake", root / "real-vs-fake", root]
    bases = [c for c in candidates if any((c / s).is_dir() for s in split_names)]
    if not bases:
        raise FileNotFoundError(f"no real_vs_fake/real-vs-fake/{{train,valid,test}} under {root}")
    base, rows, missing = bases[0], [], 0
    csv_dirs = [root, root / "real_vs_fake", base]
    csvs = {
        s: [d / f"{s}.csv" for d in csv_dirs if (d / f"{s}.csv").is_file()] for s in split_names
    }
    for name in split_names:
        split = SPLIT_ALIASES[name]
        if use_csv and any(csvs.values()):
            if csvs[name]:
                csv_rows, csv_missing = _kaggle_140k_csv_rows(root, base, csvs[name][0], split)
                rows, missing = rows + csv_rows, missing + csv_missing
        elif (base / name).is_dir():
            for class_name, label in (("real", 0), ("fake", 1)):
                class_dir = _require_dir(base / name / class_name, "a folder of images")
                method = "real" if label == 0 else "stylegan"
                prefix = f"kaggle_140k_{split}_{class_name}"
                rows += _image_folder_rows(
                    root, class_dir, label, method, prefix, "kaggle_140k", split
                )
    return _to_frame(rows, root, {"missing": missing})


def index_generic(root, *, dataset: str = "generic") -> pd.DataFrame:
    """Any ``real/`` and ``fake/`` folders of images and/or videos. Files in a subfolder of
    ``fake/`` take its name as method (``fake/faceswap/x.mp4`` -> ``faceswap``), files directly
    in ``fake/`` get "fake". No splits (""); group and identity = the item itself (the layout
    names no people).
    """
    root = _require_dir(Path(root), "a folder holding real/ and fake/")
    rows = []
    for name, label in (("real", 0), ("fake", 1)):
        class_dir = _require_dir(root / name, f"{name}/ holding {name} images or videos")
        for path in _require_files(_media_files(class_dir), class_dir, "image or video files"):
            relative = path.relative_to(class_dir)
            method = relative.parts[0] if label == 1 and len(relative.parts) > 1 else name
            video_id = f"{dataset}_{name}__{safe_id(relative.with_suffix('').as_posix())}"
            rows.append(_item(root, path, label, method, video_id, dataset=dataset))
    return _to_frame(rows, root)


LAYOUTS = {
    "ffpp": index_ffpp, "celebdf_v2": index_celebdf_v2, "deeperforensics": index_deeperforensics,
    "kaggle_real_fake": index_kaggle_real_fake, "kaggle_140k": index_kaggle_140k,
    "generic": index_generic,
}  # fmt: skip


def index_dataset(name: str, root, **options) -> pd.DataFrame:
    """Index the dataset ``name`` (one of ``LAYOUTS``) found at ``root``; options go to its indexer."""
    if name not in LAYOUTS:
        raise ValueError(f"unknown dataset layout {name!r}; expected one of {sorted(LAYOUTS)}")
    return LAYOUTS[name](root, **options)
