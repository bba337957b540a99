"""dfcore.training.sources.datasets: each reader on a tiny hand-built layout, autodetection, and identity-disjoint splits.

Every dataset here is a handful of empty files in pytest's tmp_path: the readers
look only at names, folders and metadata, never inside the clips.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from dfcore.training.sources.celebdf import read_celebdf
from dfcore.training.sources.datasets import detect_layout, read_dataset
from dfcore.training.sources.dfdc import read_dfdc, read_dfdc_faces
from dfcore.training.sources.ffpp import read_ffpp
from dfcore.training.sources.identity_split import check_disjoint, count_by_source, identity_groups, split_by_identity
from dfcore.training.sources.items import LabelledItem
from dfcore.training.sources.user_files import read_csv, read_folder
from dfcore.errors import DatasetError


def touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    return path


def rel_names(items: list[LabelledItem], root: Path) -> list[str]:
    return [p.relative_to(root).as_posix() for p in (it.path for it in items)]


# --------------------------------------------------------------------------- layouts


def make_ffpp(root: Path, n_pairs: int = 2, methods: tuple[str, ...] = ("Deepfakes",)) -> Path:
    """FF++: reals NNN, fakes TTT_SSS and SSS_TTT for pairs (2k, 2k+1)."""
    for k in range(n_pairs):
        a, b = f"{2 * k:03d}", f"{2 * k + 1:03d}"
        for ident in (a, b):
            touch(root / "original_sequences/youtube/c23/videos" / f"{ident}.mp4")
        for m in methods:
            for t, s in ((a, b), (b, a)):
                touch(root / "manipulated_sequences" / m / "c23/videos" / f"{t}_{s}.mp4")
    return root


@pytest.fixture
def ffpp_root(tmp_path: Path) -> Path:
    root = make_ffpp(tmp_path / "ffpp", n_pairs=1, methods=("Deepfakes", "Face2Face"))
    # Things that are not clips to classify: masks, a raw-quality copy, a text file, a hidden file.
    touch(root / "manipulated_sequences/Deepfakes/masks/videos/000_001.mp4")
    touch(root / "original_sequences/youtube/raw/videos/000.mp4")
    touch(root / "original_sequences/youtube/c23/videos/notes.txt")
    touch(root / "original_sequences/youtube/c23/videos/._000.mp4")
    return root


@pytest.fixture
def celebdf_root(tmp_path: Path) -> Path:
    root = tmp_path / "celebdf"
    for rel in ("Celeb-real/id0_0000.mp4", "Celeb-real/id1_0003.mp4", "YouTube-real/00170.mp4",
                "Celeb-synthesis/id0_id1_0000.mp4", "Celeb-synthesis/id1_id0_0003.mp4"):
        touch(root / rel)
    touch(root / "Celeb-real/not_a_celebdf_name.mp4")  # skipped with a warning
    # The test list says 1 = real, 0 = fake.
    (root / "List_of_testing_videos.txt").write_text(
        "1 YouTube-real/00170.mp4\n0 Celeb-synthesis/id0_id1_0000.mp4\n1 Celeb-real/id1_0003.mp4\n"
    )
    return root


def write_dfdc_part(part: Path, meta: dict, present: list[str]) -> None:
    part.mkdir(parents=True, exist_ok=True)
    (part / "metadata.json").write_text(json.dumps(meta))
    for name in present:
        touch(part / name)


@pytest.fixture
def dfdc_root(tmp_path: Path) -> Path:
    root = tmp_path / "dfdc"
    write_dfdc_part(root / "dfdc_train_part_0", {
        "aaaa.mp4": {"label": "REAL", "split": "train", "original": None},
        "bbbb.mp4": {"label": "FAKE", "split": "train", "original": "aaaa.mp4"},
        "cccc.mp4": {"label": "FAKE", "split": "train", "original": "aaaa.mp4"},
        "gone.mp4": {"label": "FAKE", "split": "train", "original": "aaaa.mp4"},  # listed, not present
    }, ["aaaa.mp4", "bbbb.mp4", "cccc.mp4"])
    write_dfdc_part(root / "dfdc_train_part_1", {
        "dddd.mp4": {"label": "REAL", "original": None},
        "eeee.mp4": {"label": "fake", "original": "dddd.mp4"},  # any case
    }, ["dddd.mp4", "eeee.mp4"])
    return root


@pytest.fixture
def dfdc_faces_root(tmp_path: Path) -> Path:
    root = tmp_path / "dfdc_faces"
    (root / "faces_224").mkdir(parents=True)
    (root / "metadata.csv").write_text(
        "videoname,original_width,original_height,label,original\n"
        "aaaa.mp4,1920,1080,REAL,\n"
        "bbbb.mp4,1920,1080,FAKE,aaaa.mp4\n"
        "cccc.mp4,1080,1920,REAL,\n"
        "zzzz.mp4,1920,1080,FAKE,cccc.mp4\n"  # no image: skipped
    )
    for stem in ("aaaa", "bbbb", "cccc"):
        touch(root / "faces_224" / f"{stem}.jpg")
    return root


@pytest.fixture
def folder_root(tmp_path: Path) -> Path:
    root = tmp_path / "folder"
    touch(root / "Real/a.mp4")
    touch(root / "Real/sub/b.JPG")
    touch(root / "FAKE/c.mov")
    touch(root / "FAKE/.hidden/d.mp4")  # hidden: skipped
    touch(root / "FAKE/._c.mov")  # macOS resource fork: skipped
    touch(root / "FAKE/readme.txt")  # not media: skipped
    touch(root / "other/e.mp4")  # not under real/ or fake/
    return root


@pytest.fixture
def csv_path(tmp_path: Path) -> Path:
    data = tmp_path / "csvdata"
    touch(data / "clips/a.mp4")
    touch(data / "clips/b.mp4")
    absolute = touch(tmp_path / "elsewhere/c.jpg")
    p = data / "list.csv"
    p.write_text(
        "Notes,PATH,Label,identity\n"
        "first,clips/a.mp4,Real,\n"
        "\n"
        "second,clips/b.mp4,FAKE,033+097\n"
        f"third,{absolute},1,\n"
    )
    return p


# --------------------------------------------------------------------------- readers


def test_read_ffpp(ffpp_root: Path) -> None:
    items = read_ffpp(ffpp_root)
    assert rel_names(items, ffpp_root) == sorted(rel_names(items, ffpp_root))  # sorted by path
    by_name = {it.path.relative_to(ffpp_root).as_posix(): it for it in items}
    assert set(by_name) == {
        "original_sequences/youtube/c23/videos/000.mp4",
        "original_sequences/youtube/c23/videos/001.mp4",
        "original_sequences/youtube/raw/videos/000.mp4",
        "manipulated_sequences/Deepfakes/c23/videos/000_001.mp4",
        "manipulated_sequences/Deepfakes/c23/videos/001_000.mp4",
        "manipulated_sequences/Face2Face/c23/videos/000_001.mp4",
        "manipulated_sequences/Face2Face/c23/videos/001_000.mp4",
    }  # no masks, no .txt, no hidden file
    real = by_name["original_sequences/youtube/c23/videos/001.mp4"]
    assert (real.label, real.identities, real.source) == (0, ("001",), "ffpp/original")
    fake = by_name["manipulated_sequences/Face2Face/c23/videos/001_000.mp4"]
    assert (fake.label, fake.identities, fake.source) == (1, ("001", "000"), "ffpp/Face2Face")
    assert count_by_source(items) == {
        "ffpp/Deepfakes": {"real": 0, "fake": 2},
        "ffpp/Face2Face": {"real": 0, "fake": 2},
        "ffpp/original": {"real": 3, "fake": 0},
    }


def test_read_ffpp_quality_filter(ffpp_root: Path) -> None:
    c23 = read_ffpp(ffpp_root, qualities=["c23"])
    assert len(c23) == 6 and all("/c23/" in it.path.as_posix() for it in c23)
    raw = read_ffpp(ffpp_root, qualities=["c0"])  # c0 is the paper's name for raw
    assert rel_names(raw, ffpp_root) == ["original_sequences/youtube/raw/videos/000.mp4"]
    with pytest.raises(DatasetError, match="no clips"):
        read_ffpp(ffpp_root, qualities=["c40"])


def test_read_ffpp_errors(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError):
        read_ffpp(tmp_path / "empty")
    with pytest.raises(DatasetError):
        read_ffpp(tmp_path / "does_not_exist")


def test_read_celebdf_all(celebdf_root: Path) -> None:
    items = read_celebdf(celebdf_root)
    got = {it.path.relative_to(celebdf_root).as_posix(): (it.label, it.identities, it.source) for it in items}
    assert got == {
        "Celeb-real/id0_0000.mp4": (0, ("id0",), "celebdf/Celeb-real"),
        "Celeb-real/id1_0003.mp4": (0, ("id1",), "celebdf/Celeb-real"),
        "YouTube-real/00170.mp4": (0, ("yt-00170",), "celebdf/YouTube-real"),
        "Celeb-synthesis/id0_id1_0000.mp4": (1, ("id0", "id1"), "celebdf/Celeb-synthesis"),
        "Celeb-synthesis/id1_id0_0003.mp4": (1, ("id1", "id0"), "celebdf/Celeb-synthesis"),
    }


def test_read_celebdf_test_list_converts_labels(celebdf_root: Path) -> None:
    items = read_celebdf(celebdf_root, test_only=True)
    got = {it.path.relative_to(celebdf_root).as_posix(): it.label for it in items}
    # In the list 1 = real; in dfcore 1 = fake.
    assert got == {"YouTube-real/00170.mp4": 0, "Celeb-synthesis/id0_id1_0000.mp4": 1, "Celeb-real/id1_0003.mp4": 0}


def test_read_celebdf_test_list_contradiction(celebdf_root: Path) -> None:
    # Label 1 (= real) for a file in Celeb-synthesis: a flipped convention somewhere.
    (celebdf_root / "List_of_testing_videos.txt").write_text("1 YouTube-real/00170.mp4\n1 Celeb-synthesis/id0_id1_0000.mp4\n")
    with pytest.raises(DatasetError, match="line 2"):
        read_celebdf(celebdf_root, test_only=True)


def test_read_dfdc(dfdc_root: Path) -> None:
    items = read_dfdc(dfdc_root)
    got = {it.path.name: (it.label, it.identities) for it in items}
    assert got == {
        "aaaa.mp4": (0, ("aaaa",)),
        "bbbb.mp4": (1, ("aaaa",)),  # a fake's identity is its original
        "cccc.mp4": (1, ("aaaa",)),
        "dddd.mp4": (0, ("dddd",)),
        "eeee.mp4": (1, ("dddd",)),
    }  # gone.mp4 is listed but absent: skipped
    assert {it.source for it in items} == {"dfdc"}
    # A single part folder reads too.
    assert len(read_dfdc(dfdc_root / "dfdc_train_part_1")) == 2


def test_read_dfdc_bad_label(tmp_path: Path) -> None:
    write_dfdc_part(tmp_path / "p", {"a.mp4": {"label": "MAYBE"}}, ["a.mp4"])
    with pytest.raises(DatasetError, match="MAYBE"):
        read_dfdc(tmp_path / "p")


def test_read_dfdc_faces(dfdc_faces_root: Path) -> None:
    items = read_dfdc_faces(dfdc_faces_root)
    got = {it.path.relative_to(dfdc_faces_root).as_posix(): (it.label, it.identities) for it in items}
    assert got == {
        "faces_224/aaaa.jpg": (0, ("aaaa",)),
        "faces_224/bbbb.jpg": (1, ("aaaa",)),
        "faces_224/cccc.jpg": (0, ("cccc",)),
    }


def test_read_folder(folder_root: Path) -> None:
    items = read_folder(folder_root)
    got = {it.path.relative_to(folder_root).as_posix(): it.label for it in items}
    assert got == {"Real/a.mp4": 0, "Real/sub/b.JPG": 0, "FAKE/c.mov": 1}
    assert all(it.source == "folder" for it in items)


def test_read_csv(csv_path: Path, tmp_path: Path) -> None:
    items = read_csv(csv_path)
    got = {it.path: (it.label, it.identities, it.source) for it in items}
    base = csv_path.parent
    assert got == {
        base / "clips/a.mp4": (0, ("a",), "csv"),  # no identity: the file stem
        base / "clips/b.mp4": (1, ("033", "097"), "csv"),
        tmp_path / "elsewhere/c.jpg": (1, ("c",), "csv"),  # absolute paths are kept
    }


def test_read_csv_bad_label_names_the_line(csv_path: Path) -> None:
    text = csv_path.read_text().replace("clips/b.mp4,FAKE", "clips/b.mp4,maybe")
    csv_path.write_text(text)
    with pytest.raises(DatasetError, match="line 4") as e:
        read_csv(csv_path)
    assert "maybe" in str(e.value)


def test_read_csv_other_errors(tmp_path: Path) -> None:
    touch(tmp_path / "a.mp4")
    cases = {
        "no_label.csv": ("path,kind\na.mp4,real\n", "label"),
        "missing_file.csv": ("path,label\na.mp4,real\nnope.mp4,fake\n", "line 3"),
        "bad_type.csv": ("path,label\nnotes.txt,real\n", "line 2"),
        "empty.csv": ("", "empty"),
    }
    for name, (text, match) in cases.items():
        (tmp_path / name).write_text(text)
        with pytest.raises(DatasetError, match=match):
            read_csv(tmp_path / name)
    with pytest.raises(DatasetError):
        read_csv(tmp_path / "absent.csv")


# --------------------------------------------------------------------------- autodetection


def test_read_dataset_autodetects_each_layout(ffpp_root, celebdf_root, dfdc_root, dfdc_faces_root,
                                              folder_root, csv_path) -> None:
    cases = [
        (ffpp_root, "ffpp", read_ffpp),
        (celebdf_root, "celebdf", read_celebdf),
        (dfdc_root, "dfdc", read_dfdc),
        (dfdc_faces_root, "dfdc_faces", read_dfdc_faces),
        (folder_root, "folder", read_folder),
        (csv_path, "csv", read_csv),
    ]
    for path, layout, reader in cases:
        assert detect_layout(path) == layout, path
        items = read_dataset(path)
        assert items == reader(path)
        assert len(items) > 0


def test_unknown_layouts_raise(tmp_path: Path) -> None:
    (tmp_path / "stuff/more").mkdir(parents=True)
    touch(tmp_path / "stuff/a.mp4")
    with pytest.raises(DatasetError, match="not a dataset layout"):
        read_dataset(tmp_path / "stuff")
    with pytest.raises(DatasetError):
        read_dataset(touch(tmp_path / "list.txt"))
    with pytest.raises(DatasetError, match="not found"):
        read_dataset(tmp_path / "nowhere")


# --------------------------------------------------------------------------- splitting


@pytest.fixture
def big_ffpp(tmp_path: Path) -> list[LabelledItem]:
    # 20 pairs -> 40 reals, 80 fakes (two methods x both directions); 20 groups of 6.
    return read_ffpp(make_ffpp(tmp_path / "big", n_pairs=20, methods=("Deepfakes", "FaceSwap")))


def test_split_is_identity_disjoint(big_ffpp: list[LabelledItem]) -> None:
    train, val = split_by_identity(big_ffpp, 0.25, seed=0)
    assert len(train) + len(val) == len(big_ffpp)
    assert {it.path for it in train}.isdisjoint({it.path for it in val})
    ids_train = {i for it in train for i in it.identities}
    ids_val = {i for it in val for i in it.identities}
    assert ids_train.isdisjoint(ids_val)
    check_disjoint(train, val)  # does not raise
    assert train == sorted(train, key=lambda it: str(it.path))


def test_split_keeps_ffpp_pairs_together(big_ffpp: list[LabelledItem]) -> None:
    for seed in range(3):
        train, val = split_by_identity(big_ffpp, 0.25, seed=seed)
        side = {it.path.stem + "@" + it.source: "val" for it in val}
        side.update({it.path.stem + "@" + it.source: "train" for it in train})
        for k in range(20):
            a, b = f"{2 * k:03d}", f"{2 * k + 1:03d}"
            sides = {side[f"{a}@ffpp/original"], side[f"{b}@ffpp/original"]}
            for m in ("Deepfakes", "FaceSwap"):
                sides |= {side[f"{a}_{b}@ffpp/{m}"], side[f"{b}_{a}@ffpp/{m}"]}
            assert len(sides) == 1, (seed, k, sides)


def test_split_deterministic_order_free_and_seeded(big_ffpp: list[LabelledItem]) -> None:
    first = split_by_identity(big_ffpp, 0.25, seed=5)
    shuffled = list(big_ffpp)
    random.Random(1).shuffle(shuffled)
    assert split_by_identity(shuffled, 0.25, seed=5) == first
    others = [split_by_identity(big_ffpp, 0.25, seed=s)[1] for s in range(6, 10)]
    assert any(v != first[1] for v in others)


@pytest.mark.parametrize("fraction", [0.1, 0.25, 0.5])
def test_split_fraction_and_both_labels(big_ffpp: list[LabelledItem], fraction: float) -> None:
    for seed in range(3):
        _, val = split_by_identity(big_ffpp, fraction, seed=seed)
        # Whole groups of 6 move: within one group of the target.
        assert abs(len(val) - fraction * len(big_ffpp)) <= 6
        assert {it.label for it in val} == {0, 1}
        # The class balance is kept: 1 real to 2 fakes, as in the data.
        assert sum(it.label for it in val) == 2 * sum(1 - it.label for it in val)


def test_split_both_labels_in_validation_when_classes_are_unequal(tmp_path: Path) -> None:
    # 1 fake group among many real ones: greedy alone could leave validation all real.
    items = [LabelledItem(tmp_path / f"r{i}.mp4", 0, (f"r{i}",), "x") for i in range(12)]
    items += [LabelledItem(tmp_path / f"f{i}.mp4", 1, (f"f{i}",), "x") for i in range(3)]
    for seed in range(5):
        train, val = split_by_identity(items, 0.2, seed=seed)
        assert {it.label for it in val} == {0, 1}
        assert {it.label for it in train} == {0, 1}


def rare_method_items(root: Path) -> list[LabelledItem]:
    """Like the shared FF++ data: 20 pairs with Deepfakes fakes, only 4 of them with FaceSwap ones too."""
    items = []
    for k in range(20):
        a, b = f"{2 * k:03d}", f"{2 * k + 1:03d}"
        items += [LabelledItem(root / f"{i}.mp4", 0, (i,), "ffpp/original") for i in (a, b)]
        for m in ("Deepfakes", "FaceSwap") if k < 4 else ("Deepfakes",):
            items += [LabelledItem(root / m / f"{t}_{s}.mp4", 1, (t, s), f"ffpp/{m}") for t, s in ((a, b), (b, a))]
    return items


def test_split_by_source_puts_a_rare_method_in_validation(tmp_path: Path) -> None:
    items = rare_method_items(tmp_path)
    by_label_lacks_it = 0
    for seed in range(10):
        train, val = split_by_identity(items, 0.2, seed=seed, stratify="source")
        check_disjoint(train, val)
        assert {it.source for it in val} == {"ffpp/original", "ffpp/Deepfakes", "ffpp/FaceSwap"}, seed
        assert any(it.source == "ffpp/FaceSwap" for it in train)  # 1 of the 4 groups is the target
        n_real = sum(it.source == "ffpp/original" for it in val)
        assert abs(n_real - 0.2 * 40) <= 2  # within one group of the target share
        assert sum(it.source == "ffpp/Deepfakes" for it in val) == n_real  # each group has as many as reals
        _, val_by_label = split_by_identity(items, 0.2, seed=seed)
        by_label_lacks_it += not any(it.source == "ffpp/FaceSwap" for it in val_by_label)
    assert by_label_lacks_it > 0  # the gap that stratifying by source closes


def test_split_by_label_is_the_default(big_ffpp: list[LabelledItem]) -> None:
    # One method pair per group: both strata rules agree, and "label" is what no argument means.
    assert split_by_identity(big_ffpp, 0.25, seed=3) == split_by_identity(big_ffpp, 0.25, seed=3, stratify="label")
    with pytest.raises(ValueError, match="stratify"):
        split_by_identity(big_ffpp, 0.25, seed=3, stratify="method")


def test_split_argument_errors(big_ffpp: list[LabelledItem]) -> None:
    for bad in (0.0, 1.0, -0.1, 1.5):
        with pytest.raises(ValueError):
            split_by_identity(big_ffpp, bad, seed=0)
    with pytest.raises(ValueError):
        split_by_identity(big_ffpp[:1], 0.5, seed=0)


def test_identity_groups_and_check_disjoint(tmp_path: Path) -> None:
    a = LabelledItem(tmp_path / "a.mp4", 0, ("p1",), "x")
    b = LabelledItem(tmp_path / "b.mp4", 1, ("p1", "p2"), "x")
    c = LabelledItem(tmp_path / "c.mp4", 0, ("p2",), "x")  # linked to a through b
    d = LabelledItem(tmp_path / "d.mp4", 0, ("p3",), "x")
    assert identity_groups([a, b, c, d]) == [[0, 1, 2], [3]]
    check_disjoint([a, b, c], [d])
    with pytest.raises(ValueError, match="p2"):
        check_disjoint([a, b], [c, d])
    with pytest.raises(ValueError, match="files"):
        check_disjoint([d], [LabelledItem(d.path, 0, ("other",), "x")])
