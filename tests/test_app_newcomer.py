"""The rough edges a newcomer hit (issue "Dashboard: offline for real, private by default"), one test each, in AppTest.

The detector is an UNTRAINED, randomly initialised checkpoint (see ui_fixtures.py): these tests check what
the pages show and do, never what a verdict says about a clip. The browser half (no request leaves the
app, the webcam without a camera, the screenshots) is tests/test_e2e_offline.py.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import time
import tomllib
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from dfcore.decision import FAKE, NO_FACE, NO_SIGN, UNCERTAIN, VERDICT_LABELS
from dfcore.synth.samples import REAL_CLIP, SELFBLEND_CLIP, WARP_CLIP
from ui_fixtures import REPO, SAMPLES, started_app, wait_for_background

TIMEOUT = 60  # s: the first run imports torch and builds the model on a shared 2-core machine
SAMPLE_CLIP = SAMPLES / WARP_CLIP


@pytest.fixture
def with_weights(monkeypatch, untrained_weights: Path, tmp_path: Path) -> Path:
    monkeypatch.setenv("DFCORE_WEIGHTS", str(untrained_weights))
    monkeypatch.setenv("DFCORE_CACHE_DIR", str(tmp_path / "cache"))  # this test's own sample verdicts
    return untrained_weights


def new_app() -> AppTest:
    return started_app(TIMEOUT)  # after an earlier test's background Grad-CAM jobs, from empty caches


def upload(at: AppTest, name: str, data: bytes, mime: str = "video/mp4") -> AppTest:
    at.radio(key="analyze_source_kind").set_value("Upload").run()
    at.file_uploader(key="analyze_upload").upload(name, data, mime)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def explorer_frame(at: AppTest) -> int:
    """The frame index the explorer shows, from its image caption ("Frame 12 at 0.48 s · ...")."""
    caption = next(img.proto.imgs[0].caption for img in at.get("image")
                   if img.proto.imgs[0].caption.startswith("Frame "))
    return int(caption.split()[1])


def gallery_first(at: AppTest) -> int:
    """The most suspicious frame's index: the gallery's first caption ("#12 · 0.48 s · ...")."""
    caption = next(img.proto.imgs[0].caption for img in at.get("image")
                   if img.proto.imgs[0].caption.startswith("#"))
    return int(caption[1:].split()[0])


# --------------------------------------------------------------------------- 2. private by default


def test_dashboard_binds_loopback_by_default_and_collects_no_usage_stats() -> None:
    config = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text())
    assert config["server"]["address"] == "127.0.0.1"
    assert config["browser"]["gatherUsageStats"] is False
    # `make run` binds the same address unless told otherwise, and the command line can tell it.
    assert "--server.address 127.0.0.1" in _make_run_command(), _make_run_command()
    assert "--server.address 0.0.0.0" in _make_run_command("ADDRESS=0.0.0.0")
    readme = (REPO / "README.md").read_text()
    assert "make run ADDRESS=0.0.0.0" in readme and "**Warning:**" in readme


def _make_run_command(*variables: str) -> str:
    """The command `make run` would start; under `make test` this is a sub-make, which prints directory lines."""
    printed = subprocess.run(["make", "--no-print-directory", "-n", "run", *variables], cwd=REPO,
                             capture_output=True, text=True, check=True).stdout
    return next(line for line in printed.splitlines() if "streamlit run" in line)


# --------------------------------------------------------------------------- 3. the layer help names the model's stages


def test_layer_help_names_the_stages_of_the_loaded_model(with_weights) -> None:
    from ui.result_view import layer_help

    lite = layer_help("lite0_lstm")
    assert "EfficientNet-Lite0" in lite and "ResNeXt" not in lite and "MBConv" in lite
    resnext = layer_help("resnext_wide_lstm")
    assert "ResNeXt" in resnext and "EfficientNet" not in resnext

    at = new_app()
    at.button(key="analyze_run").click().run()
    # The fixture model is a ResNeXt one: its help says so, and nothing about EfficientNet.
    help_text = at.selectbox(key="analyze_layer").help
    assert help_text == layer_help("resnext_compact_lstm") and "ResNeXt stage 4" in help_text


# --------------------------------------------------------------------------- 4. a layer switch is a cache hit


def test_layer_switch_after_an_analysis_runs_no_model(with_weights, monkeypatch) -> None:
    import ui.analysis as analysis

    at = new_app()
    at.button(key="analyze_run").click().run()
    wait_for_background()  # the other two layers, explained while the user reads the verdict

    calls = []
    real = analysis.score_clip
    monkeypatch.setattr(analysis, "score_clip", lambda *a, **k: calls.append(k.get("explain")) or real(*a, **k))
    for layer in ("layer3", "layer2", "layer4"):
        at.selectbox(key="analyze_layer").select(layer).run()
        assert not at.exception
        assert any(img.proto.imgs[0].caption == f"Grad-CAM, {layer}" for img in at.get("image"))
    assert calls == [], "every layer was ready: no model or Grad-CAM run on a switch"


@pytest.mark.parametrize("kind", ["sample", "upload"])
def test_the_slider_top_is_prepared_while_the_user_reads_the_verdict(with_weights, monkeypatch, face_video: Path,
                                                                     kind: str) -> None:
    """After a 20-frame analysis the faces (and, for a sample, the frames) of 100 frames are found, and their
    crops run through the CNN, in the background: the move up the slider runs only the LSTM and Grad-CAM."""
    import ui.analysis as analysis
    from dfcore.models.detector import Detector

    at = new_app()
    if kind == "upload":  # a file not seen before (not a sample): its 100 frames are decoded with the first analysis
        upload(at, "mine.mp4", face_video.read_bytes())
    at.button(key="analyze_run").click().run()
    wait_for_background()  # the slider's top first, then the other two layers

    prepared = []
    real = analysis.prepare_clip
    monkeypatch.setattr(analysis, "prepare_clip", lambda *a, **k: prepared.append(a[1]) or real(*a, **k))
    cnn = []
    real_cnn = Detector._features
    monkeypatch.setattr(Detector, "_features",
                        lambda self, crops, stage: cnn.append(len(crops)) or real_cnn(self, crops, stage))
    faces_before = at.metric[1].value  # "Frames with a face": "20 / 20"
    at.slider(key="n_frames_analyze").set_value(100).run()
    assert not at.exception
    assert at.metric[1].value != faces_before, "the verdict is the 100-frame analysis' (a 2 s clip has 30 frames)"
    assert prepared == [], "the move to 100 frames found its frames and faces ready: no decode, no face search"
    assert cnn == [], "... and every crop through the CNN already"
    at.slider(key="n_frames_analyze").set_value(60).run()  # a count in between prepares from the clip's memory
    assert prepared == [60] and not at.exception


def test_background_layers_never_run_beside_a_model_load(with_weights) -> None:
    """Both may export an ONNX graph, which torch allows one at a time per process: the jobs wait for a load."""
    import ui.analysis as analysis
    import ui.models as models

    at = new_app()
    with models.MODEL_WORK:  # as a model load holds it
        at.button(key="analyze_run").click().run()  # queues the other two layers
        behind = analysis._background().submit(lambda: None)
        time.sleep(1.0)
        assert not behind.done(), "the layer jobs waited for the load"
    behind.result(timeout=TIMEOUT)
    at.selectbox(key="analyze_layer").select("layer2").run()
    assert not at.exception


# --------------------------------------------------------------------------- 5. the explorer follows a new analysis


def test_frame_explorer_opens_each_new_analysis_on_its_most_suspicious_frame(with_weights) -> None:
    at = new_app()
    at.button(key="analyze_run").click().run()
    assert explorer_frame(at) == gallery_first(at)
    slider = at.select_slider(key="analyze_frame")
    slider.set_value((slider.value + 1) % 20).run()
    chosen = explorer_frame(at)
    assert chosen != gallery_first(at)

    at.selectbox(key="analyze_layer").select("layer3").run()  # the same analysis: the chosen frame stays
    assert explorer_frame(at) == chosen

    at.slider(key="n_frames_analyze").set_value(30).run()  # a new analysis: back to its most suspicious frame
    assert not at.exception
    assert explorer_frame(at) == gallery_first(at)

    at.select_slider(key="analyze_frame").set_value(0).run()
    at.selectbox(key="analyze_sample").select(SAMPLES / SELFBLEND_CLIP).run()
    at.button(key="analyze_run").click().run()  # another clip: the same
    assert explorer_frame(at) == gallery_first(at)


# --------------------------------------------------------------------------- 6. and 7. uploads checked on arrival


def test_a_bad_upload_is_named_on_arrival_analyze_stays_off_and_the_error_goes_with_it(with_weights) -> None:
    at = upload(new_app(), "broken.mp4", b"\x00not a video" * 100)
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and errors[0].startswith("broken.mp4: "), errors  # before anyone pressed Analyze
    assert at.button(key="analyze_run").disabled

    at.file_uploader(key="analyze_upload").upload("clip.mp4", SAMPLE_CLIP.read_bytes(), "video/mp4")
    at.run()
    assert not at.error, "the previous file's error is gone"
    assert not at.button(key="analyze_run").disabled
    at.button(key="analyze_run").click().run()
    assert not at.exception and not at.error
    assert any(m.value.startswith("## ") for m in at.markdown), "the good file is analysed"

    at.file_uploader(key="analyze_upload").upload("empty.mp4", b"", "video/mp4")
    at.run()
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and at.button(key="analyze_run").disabled
    assert not any(m.value.startswith("## ") for m in at.markdown), "no result of the previous file under the error"
    # 7. An empty file: say it is empty and why that happens, not "upload it again".
    assert "the file is empty (0 bytes)" in errors[0] and "not copied or exported completely" in errors[0], errors


# --------------------------------------------------------------------------- 9. shortcut help


def test_shortcut_help_has_a_header_on_each_column_and_a_sentence_for_each_key(with_weights) -> None:
    from ui.keyboard import SHORTCUTS

    at = new_app()
    table = next(m.value for m in at.markdown if m.value.startswith("| Press |"))
    lines = table.splitlines()
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    assert len(header) == 2 and all(header), header
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in lines[2:]]
    assert [r[0] for r in rows] == [f"`{s.keys}`" for s in SHORTCUTS]
    for key, action in rows:
        assert re.fullmatch(r"[A-Z][^|]{20,}\.", action), (key, action)  # a sentence, not a fragment
        assert "instead of" not in action
    note = " ".join(c.value for c in at.caption)
    assert "the browser keeps the Ctrl combinations" in note


# --------------------------------------------------------------------------- 10. the sample list


def test_real_sample_first_and_the_list_says_what_each_is_and_what_the_model_says(with_weights, tmp_path) -> None:
    import dfcore

    at = new_app()
    samples = at.selectbox(key="analyze_sample")
    assert samples.value.name == REAL_CLIP, "a first-time user starts with the real clip"
    detector = dfcore.load_detector(with_weights, device="cpu")
    labels = dict(zip(samples.options, samples.options))
    assert len(labels) == len(list(SAMPLES.glob("synthetic_*")))
    for option in samples.options:
        name = option.split(" · ")[0]
        # What the list says, against an analysis of the sample made here (20 frames, as the list's).
        result = dfcore.analyze_video(SAMPLES / name, 20, detector=detector)
        truth = "real" if "_real_" in name else "fake"
        assert option.split(" · ")[1].startswith(truth), option
        said = VERDICT_LABELS[result.verdict]
        assert f"{detector.installed_name} says {said}" in option, (option, said)
    assert any("This one is real" in c.value for c in at.caption)
    # Kept for the next start: a new session reads the store and analyses nothing.
    store = json.loads((tmp_path / "cache" / "sample_verdicts.json").read_text())
    assert len(store["entries"]) == len(samples.options)
    assert all(k.startswith(detector.sha256) for k in store["entries"])


def test_sample_list_is_read_from_the_store_on_a_second_start(with_weights, monkeypatch) -> None:
    import ui.analysis as analysis

    new_app()  # the first start analyses the samples once
    calls = []
    monkeypatch.setattr(analysis, "prepare_clip", lambda *a, **k: calls.append(a) or None)
    at = new_app()  # empty caches, a new session: the list comes from the store
    assert not calls and "says" in at.selectbox(key="analyze_sample").options[0]


# --------------------------------------------------------------------------- 11. the batch table


def test_batch_rows_are_coloured_by_verdict_never_red_for_no_sign() -> None:
    from ui.batch_table import ERROR, SCORE, VERDICT_TINTS, column_config, row_styles

    table = pd.DataFrame({"file": ["a.mp4", "b.mp4", "c.mp4", "d.mp4", "e.mp4"],
                          "verdict": [VERDICT_LABELS[NO_SIGN], VERDICT_LABELS[FAKE], VERDICT_LABELS[UNCERTAIN],
                                      VERDICT_LABELS[NO_FACE], ERROR],
                          SCORE: [3.8, 97.0, 60.0, None, None]})
    styles = row_styles(table)
    red = VERDICT_TINTS[VERDICT_LABELS[FAKE]]
    assert VERDICT_TINTS[VERDICT_LABELS[NO_SIGN]] in styles.loc[0, SCORE] and red not in styles.loc[0].str.cat()
    assert red in styles.loc[1, SCORE] and red in styles.loc[1, "verdict"]
    assert VERDICT_TINTS[VERDICT_LABELS[UNCERTAIN]] in styles.loc[2, SCORE]
    assert styles.loc[4].str.cat() == "", "an error row is not coloured as a verdict"
    assert (styles["file"] == "").all()
    # The bar itself is one colour for the whole column: grey, so its colour never reads as a verdict.
    bar = column_config()[SCORE]
    assert bar["type_config"]["color"] == "gray"


def test_batch_tells_apart_two_files_of_the_same_name(with_weights) -> None:
    at = new_app()
    at.switch_page("pages/batch.py").run()
    first, second = SAMPLE_CLIP.read_bytes(), (SAMPLES / SELFBLEND_CLIP).read_bytes()
    at.file_uploader(key="batch_uploads").set_value([("clip.mp4", first, "video/mp4"),
                                                      ("clip.mp4", second, "video/mp4")])
    at.run()
    at.button(key="batch_run").click().run()
    assert not at.exception, [e.value for e in at.exception]
    table = at.dataframe[0].value
    assert list(table["file"]) == ["clip.mp4", "clip.mp4"]
    assert list(table["sha256"]) == [hashlib.sha256(d).hexdigest()[:10] for d in (first, second)]
    options = at.selectbox(key="batch_open").options
    assert len(set(options)) == 2 and all(h in o for h, o in zip(table["sha256"], options)), options
