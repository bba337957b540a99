"""``python -m dfcore train --set FIELD=VALUE`` (dfcore.training.run_overrides): a recipe run changed in one setting."""

from __future__ import annotations

from pathlib import Path

import pytest

from dfcore.cli import main as cli_main
from dfcore.training.run_overrides import OverrideError, override_run, parse_assignment
from dfcore.training.recipe import RECIPE


def test_values_are_typed_like_the_fields_default() -> None:
    base = RECIPE["lite0_lstm_th"]
    run = override_run(base, ["frozen_stages=stem,layer1,layer2,layer3", "lr=5e-5", "clip_steps=10",
                              "select_best=false", "exclude_methods=talking_heads/AniTalker"])
    assert run.frozen_stages == ("stem", "layer1", "layer2", "layer3")
    assert run.lr == 5e-5 and isinstance(run.lr, float)
    assert run.clip_steps == 10 and isinstance(run.clip_steps, int)
    assert run.select_best is False
    assert run.exclude_methods == ("talking_heads/AniTalker",)
    assert base.frozen_stages == ("stem", "layer1", "layer2") and base.lr == 1e-4  # the recipe is untouched
    assert override_run(base, []) == base
    targeted = override_run(base, ["blend_regions=0.7,0.1,0.1,0.1", "neural_look_prob=0.5", "webcam_prob=0.15"])
    assert targeted.blend_regions == (0.7, 0.1, 0.1, 0.1) and isinstance(targeted.blend_regions[0], float)
    assert targeted.neural_look_prob == 0.5 and targeted.webcam_prob == 0.15
    assert base.blend_regions == (0.4, 0.3, 0.15, 0.15)  # the stage's own targeted blends stay as the recipe has them


@pytest.mark.parametrize("text, reason", [
    ("lr", "expected FIELD=VALUE"),
    ("=3", "expected FIELD=VALUE"),
    ("learning_rate=1e-4", "no such run setting"),
    ("name=other", "names the run itself"),
    ("init_from=resnext_lstm", "names the run itself"),
    ("clip_steps=many", "not a whole number"),
    ("select_best=maybe", "not true or false"),
    ("frozen_stages=layer1,layer2", "first stages"),
    ("talking_heads_share=0.8", "between 0 and 1"),
    ("blend_regions=0.5,0.5,0.5,0.5", "summing to 1"),
    ("blend_regions=1,0", "need 4"),
    ("blend_regions=1,0,0,mouth", "not valid"),
    ("neural_look_prob=2", "not a probability"),
    ("webcam_prob=-0.1", "between 0 and 1"),
    ("codec_prob=1.5", "codec_prob=1.5: a chance, between 0 and 1"),
])
def test_bad_assignments_say_what_is_wrong(text: str, reason: str) -> None:
    with pytest.raises(OverrideError, match=reason):
        override_run(RECIPE["lite0_lstm_th"], [text])


def test_an_assignment_splits_at_the_first_equals_sign() -> None:
    assert parse_assignment(" exclude_methods = a=b ") == ("exclude_methods", "a=b")


def test_the_cli_refuses_a_variant_that_would_overwrite_the_shipped_weights(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = ["train", "--data", str(tmp_path), "--runs", "lite0_lstm_th", "--set", "lr=5e-5"]
    assert cli_main(base) == 2
    assert "own --weights-dir and --work-dir" in capsys.readouterr().err
    assert cli_main(base + ["--weights-dir", str(tmp_path / "w"), "--work-dir", str(tmp_path / "r"),
                            "--set", "bogus=1"]) == 2
    assert "error: --set bogus: no such run setting" in capsys.readouterr().err
    assert not (tmp_path / "w").exists() and not (tmp_path / "r").exists()
    assert cli_main(["train", "--csv", str(tmp_path / "x.csv"), "--set", "lr=1"]) == 2
    assert "--set belongs to the recipe" in capsys.readouterr().err
