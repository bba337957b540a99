"""AppTest: the sidebar's model selector, each installed model's card, and every model on the Speed page.

Two UNTRAINED fixture models (different random weights, so different sha256)
are installed in a temporary weights folder with a ``models.json`` written by
``dfcore.models.model_registry.write_index``; ``dfcore.models.model_registry.WEIGHTS_DIR`` is
pointed there. Their cards carry invented metrics (ui_fixtures.py). Only the
plumbing is checked: which model analyses, which card is shown, never a verdict.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

import dfcore
from dfcore.models import model_registry
from dfcore.models.checkpoint import sha256_file
from ui_fixtures import SAMPLES, TWO_MODELS, started_app

TIMEOUT = 60  # s: the first run imports torch and builds the model on a shared 2-core machine
FIRST, SECOND = TWO_MODELS


def new_app() -> AppTest:
    return started_app(TIMEOUT)


def result_caption(at: AppTest) -> str:
    return next(c.value for c in at.caption if c.value.startswith("Model "))


@pytest.fixture
def installed(monkeypatch, two_models_dir: Path) -> Path:
    """The two fixture models are the installed ones."""
    monkeypatch.delenv("DFCORE_WEIGHTS", raising=False)
    monkeypatch.setattr(model_registry, "WEIGHTS_DIR", two_models_dir)
    return two_models_dir


def test_selector_lists_the_models_and_switches_the_analysis(installed: Path, monkeypatch):
    loads: list[str | None] = []
    real_load = dfcore.load_detector

    def counting_load(*args, **kwargs):
        loads.append(kwargs.get("model"))
        return real_load(*args, **kwargs)

    monkeypatch.setattr(dfcore, "load_detector", counting_load)
    at = new_app()
    selector = at.sidebar.selectbox(key="model")
    assert selector.options == [f"{FIRST} (default)", SECOND] and selector.value == FIRST
    at.button(key="analyze_run").click().run()
    assert sha256_file(installed / f"{FIRST}.pt")[:12] in result_caption(at)

    at.sidebar.selectbox(key="model").select(SECOND).run()  # the analysis follows the model
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert sha256_file(installed / f"{SECOND}.pt")[:12] in result_caption(at)
    assert f"{SECOND}.pt" in result_caption(at)

    at.sidebar.selectbox(key="model").select(FIRST).run()
    assert sha256_file(installed / f"{FIRST}.pt")[:12] in result_caption(at)
    assert loads == [FIRST, SECOND], "each model is loaded once, then comes from the cache"

    at.switch_page("pages/model.py").run()  # the choice holds on every page
    at.sidebar.selectbox(key="model").select(SECOND).run()
    assert at.sidebar.selectbox(key="model").value == SECOND
    assert any(f"{SECOND}.pt" in m.value for m in at.markdown if "Selected model" in m.value)


def test_model_page_shows_every_models_card(installed: Path):
    at = new_app()
    at.switch_page("pages/model.py").run()
    assert not at.exception and not at.error and not at.warning
    assert [t.label for t in at.tabs] == [f"{FIRST} (default)", SECOND]
    headers = [h.value for h in at.header]
    assert len(headers) == 2 and all("TEST FIXTURE" in h for h in headers)
    assert len(at.get("plotly_chart")) == 2, "a reliability diagram per card"


def test_speed_page_plots_every_model_and_says_which_has_no_card(installed: Path, tmp_path: Path, monkeypatch):
    at = new_app()
    at.switch_page("pages/speed.py").run()
    chart = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert [(d["name"], d["xaxis"]) for d in chart["data"]] == [
        (f"{FIRST} (default)", "x"), (f"{FIRST} (default)", "x2"), (SECOND, "x"), (SECOND, "x2")]
    for trace, name, metric in zip(chart["data"], (FIRST, FIRST, SECOND, SECOND), ("auc", "seconds_per_video") * 2):
        card = json.loads((installed / f"{name}.card.json").read_text())
        rows = card["metrics"]["ffpp_c23_val"]["by_frames"]
        assert trace["y"] == [rows[k][metric] for k in ("10", "20", "40", "60", "80", "100")], (name, metric)

    folder = Path(shutil.copytree(installed, tmp_path / "weights"))
    (folder / f"{SECOND}.card.json").unlink()
    monkeypatch.setattr(model_registry, "WEIGHTS_DIR", folder)
    at = new_app()
    at.switch_page("pages/speed.py").run()
    assert any(f"No model card yet for {SECOND}" in i.value for i in at.info)
    chart = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert {d["name"] for d in chart["data"]} == {f"{FIRST} (default)"}


def test_dfcore_weights_is_the_one_model(monkeypatch, untrained_weights: Path):
    monkeypatch.setenv("DFCORE_WEIGHTS", str(untrained_weights))
    at = new_app()
    selector = at.sidebar.selectbox(key="model")
    assert selector.options == [f"{untrained_weights.stem} (default)"] and selector.disabled
    at.button(key="analyze_run").click().run()
    assert sha256_file(untrained_weights)[:12] in result_caption(at)


def test_a_broken_model_list_is_a_readable_error(monkeypatch, tmp_path: Path):
    (tmp_path / model_registry.INDEX_NAME).write_text("{ not json")
    monkeypatch.delenv("DFCORE_WEIGHTS", raising=False)
    monkeypatch.setattr(model_registry, "WEIGHTS_DIR", tmp_path)
    at = new_app()
    assert any("is not a valid model list" in e.value and "make evaluate" in e.value for e in at.sidebar.error)
    assert any("is not a valid model list" in e.value for e in at.main.error), "the page says it too"


def test_a_withdrawn_model_is_shown_with_its_reason_and_not_offered(installed: Path, tmp_path: Path, monkeypatch):
    folder = Path(shutil.copytree(installed, tmp_path / "weights"))
    card_path = folder / f"{SECOND}.card.json"
    reason = "On a hidden set of clips from other sources it scored AUCs near 0.5, a coin flip."
    card_path.write_text(json.dumps({**json.loads(card_path.read_text()), "withdrawn": reason}))
    monkeypatch.setattr(model_registry, "WEIGHTS_DIR", folder)
    at = new_app()
    selector = at.sidebar.selectbox(key="model")
    assert selector.options == [f"{FIRST} (default)"], "a withdrawn model is never offered for analysis"
    at.switch_page("pages/model.py").run()
    assert not at.exception
    assert [t.label for t in at.tabs] == [f"{FIRST} (default)", f"{SECOND} (withdrawn)"]
    errors = [e.value for e in at.error]
    assert errors == [f"Withdrawn: {reason.rstrip('.')}. It is not offered for analysis; its card is kept for the "
                      "record."], errors
    assert len(at.header) == 2, "its card is still shown"


def test_batch_table_names_the_model_and_goes_stale_when_it_changes(installed: Path):
    at = new_app()
    at.switch_page("pages/batch.py").run()
    clip = SAMPLES / "synthetic_fake_warp_astronaut.mp4"
    at.file_uploader(key="batch_uploads").set_value([("clip.mp4", clip.read_bytes(), "video/mp4")])
    at.run()
    at.button(key="batch_run").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert list(at.dataframe[0].value["model"]) == [FIRST] and not at.warning
    assert at.selectbox(key="batch_open") is not None

    at.sidebar.selectbox(key="model").select(SECOND).run()
    assert not at.exception
    warnings = [w.value for w in at.warning]
    assert len(warnings) == 1 and warnings[0].startswith("Stale") and FIRST in warnings[0] and SECOND in warnings[0]
    assert list(at.dataframe[0].value["model"]) == [FIRST], "the table still says which model made it"
    assert not [s for s in at.selectbox if s.key == "batch_open"], "no full analysis by another model than the table's"

    at.button(key="batch_run").click().run()
    assert list(at.dataframe[0].value["model"]) == [SECOND] and not at.warning
