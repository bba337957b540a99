"""dfcore.training.sources.talking_heads: the talking-heads folder's reader, and its identity-disjoint splits."""

from __future__ import annotations

from pathlib import Path

import pytest

from dfcore.errors import DatasetError
from dfcore.training.sources.identity_split import split_by_identity
from dfcore.training.sources.talking_heads import is_generated, read_talking_heads

HEADER = "path,label,source,identity,method\n"
ROWS = [
    ("real/dfl_a_real.mp4", "real", "DeepFaceLive", "dfl_a", "original"),
    ("fake/dfl_a_swap.mp4", "fake", "DeepFaceLive", "dfl_a", "DeepFaceLive"),
    ("real/mead_M1_angry.mp4", "real", "dreamtalk", "mead_M1", "original"),
    ("fake/linly_x.mp4", "fake", "Linly-Talker", "linly_avatar", "SadTalker (Linly-Talker)"),
    ("fake/anitalker_y.mp4", "fake", "AniTalker", "anitalker_y", "AniTalker"),
]


def _folder(tmp_path: Path, rows=ROWS, missing: tuple[str, ...] = ()) -> Path:
    root = tmp_path / "talking_heads"
    root.mkdir(parents=True, exist_ok=True)
    for rel, *_ in rows:
        if rel not in missing:
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_bytes(b"x")
    (root / "metadata.csv").write_text(HEADER + "".join(f"talking_heads/{r[0]},{','.join(r[1:])}\n" for r in rows))
    return root


def test_reads_labels_sources_and_identities(tmp_path: Path) -> None:
    items = {p.path.name: p for p in read_talking_heads(_folder(tmp_path))}
    assert items["dfl_a_real.mp4"].label == 0 and items["dfl_a_swap.mp4"].label == 1
    assert items["dfl_a_real.mp4"].identities == items["dfl_a_swap.mp4"].identities == ("dfl_a",)
    assert items["mead_M1_angry.mp4"].source == "talking_heads/MEAD"  # reals are named by the kind of footage
    assert items["linly_x.mp4"].source == "talking_heads/SadTalker"  # one generator under two names
    assert is_generated(items["anitalker_y.mp4"].source) and not is_generated(items["dfl_a_swap.mp4"].source)


def test_a_live_swap_stays_with_its_original_in_a_split(tmp_path: Path) -> None:
    items = read_talking_heads(_folder(tmp_path))
    for seed in range(5):
        train, val = split_by_identity(items, 0.4, seed, "source")
        sides = {it.path.name: "train" if it in train else "val" for it in items}
        assert sides["dfl_a_real.mp4"] == sides["dfl_a_swap.mp4"]


def test_missing_files_are_skipped_and_an_empty_folder_refused(tmp_path: Path) -> None:
    assert len(read_talking_heads(_folder(tmp_path, missing=("fake/linly_x.mp4",)))) == 4
    with pytest.raises(DatasetError, match="none of the clips"):
        read_talking_heads(_folder(tmp_path / "b", missing=tuple(r[0] for r in ROWS)))


def test_a_bad_label_names_the_line(tmp_path: Path) -> None:
    root = _folder(tmp_path, rows=ROWS[:1] + [("real/x.mp4", "maybe", "LIA", "x", "original")])
    with pytest.raises(DatasetError, match="line 3"):
        read_talking_heads(root)
