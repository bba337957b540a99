"""The dashboard with bad uploads: a readable st.error, the app still usable, nothing left on disk.

AppTest runs the real pages in this process. The detector is an UNTRAINED,
randomly initialised checkpoint (see ui_fixtures.py): only the plumbing is
checked — which message appears, that the next analysis works, that the
upload's temporary folder is gone afterwards — never what a verdict says.
"""

from __future__ import annotations

import re
import stat
import tomllib
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from dfcore.decision import VERDICT_LABELS
from ui.common import safe_name, temp_copy
from ui_fixtures import REPO, SAMPLES, started_app

TIMEOUT = 60  # s: the first run imports torch and builds the model on a shared 2-core machine
SAMPLE_CLIP = SAMPLES / "synthetic_fake_warp_astronaut.mp4"
VERDICTS = tuple(VERDICT_LABELS.values())  # as shown: "FAKE", "UNCERTAIN", "NO SIGN FOUND", "NO FACE"


@pytest.fixture
def with_weights(monkeypatch, untrained_weights: Path) -> Path:
    monkeypatch.setenv("DFCORE_WEIGHTS", str(untrained_weights))
    return untrained_weights


def new_app() -> AppTest:
    return started_app(TIMEOUT)


def upload_and_analyse(at: AppTest, name: str, data: bytes, mime: str = "video/mp4") -> AppTest:
    at.radio(key="analyze_source_kind").set_value("Upload").run()
    at.file_uploader(key="analyze_upload").upload(name, data, mime)
    at.run()
    at.button(key="analyze_run").click().run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def verdict_text(at: AppTest) -> str:
    return " ".join(m.value for m in at.markdown if m.value.startswith("## "))


def assert_still_usable(at: AppTest) -> None:
    """After a failure the same session analyses a sample as usual."""
    at.radio(key="analyze_source_kind").set_value("Sample video").run()
    at.selectbox(key="analyze_sample").select(SAMPLE_CLIP)
    at.button(key="analyze_run").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any(v in verdict_text(at) for v in VERDICTS), verdict_text(at)


def _half(path: Path) -> bytes:
    data = path.read_bytes()
    return data[: len(data) // 2]


# (upload name, bytes, what the error must say)
BAD_UPLOADS = {
    "zero_bytes": ("empty.mp4", b"", "the file is empty (0 bytes)"),
    "random_bytes": ("random.mp4", bytes(range(256)) * 64, "could not be opened as a video"),
    "text_as_mov": ("notes.mov", b"This is a text file, not a QuickTime movie.\n" * 20, "could not be opened as a video"),
    "png_bytes_as_jpg": ("photo.jpg", b"\x89PNG\r\n\x1a\n" + bytes(100), "could not be decoded as an image"),
}


@pytest.mark.parametrize("case", list(BAD_UPLOADS))
def test_bad_upload_shows_one_readable_error_and_the_app_goes_on(with_weights, case: str):
    name, data, says = BAD_UPLOADS[case]
    at = upload_and_analyse(new_app(), name, data)
    errors = [e.value for e in at.error]
    assert len(errors) == 1, errors
    assert errors[0].startswith(f"{name}: ") and says in errors[0], errors
    assert "Traceback" not in errors[0] and "/tmp" not in errors[0], "no server paths in the page"
    assert_still_usable(at)


def test_audio_only_upload(with_weights, audio_only_video: Path):
    at = upload_and_analyse(new_app(), "voice memo.mp4", audio_only_video.read_bytes())
    errors = [e.value for e in at.error]
    assert errors == ["voice memo.mp4: has no video stream (it holds audio only). Pass a file with video in it."]
    assert_still_usable(at)


def test_truncated_upload_is_analysed_with_a_note(with_weights):
    at = upload_and_analyse(new_app(), "cut.mp4", _half(SAMPLE_CLIP))
    assert not at.error, [e.value for e in at.error]
    assert any(v in verdict_text(at) for v in VERDICTS)
    assert any("damaged or truncated" in i.value for i in at.info), [i.value for i in at.info]


def test_unicode_and_path_names_upload(with_weights):
    at = upload_and_analyse(new_app(), "../../клип ü (1).mp4", SAMPLE_CLIP.read_bytes())
    assert not at.error, [e.value for e in at.error]
    assert any(v in verdict_text(at) for v in VERDICTS)


def test_time_limit_shows_an_error(with_weights, monkeypatch):
    import ui.analysis as analysis

    monkeypatch.setattr(analysis, "TIME_LIMIT_S", 0.0)
    at = new_app()
    at.button(key="analyze_run").click().run()
    assert not at.exception
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and "time limit of 0 s" in errors[0] and "fewer frames" in errors[0], errors
    monkeypatch.setattr(analysis, "TIME_LIMIT_S", 120.0)
    assert_still_usable(at)


@pytest.mark.parametrize(("name", "data"), [("good clip.mp4", SAMPLE_CLIP.read_bytes()), ("bad.mp4", b"\x00" * 999)])
def test_upload_folder_is_private_and_deleted(with_weights, monkeypatch, name: str, data: bytes):
    import ui.analysis as analysis

    seen: list[tuple[Path, int, bool]] = []

    def spying(real):
        def spy(path, *a, **k):
            p = Path(path)
            # The sample list's own analyses read the samples where they are; a clip whose frames are all in
            # memory is prepared under its bare name, with no file at all (the slider's top count, in the
            # background): neither is a copy of the upload.
            if p.parent != SAMPLES and p.is_absolute():
                seen.append((p, stat.S_IMODE(p.parent.stat().st_mode), p.exists()))
            return real(path, *a, **k)
        return spy

    # The upload is checked when it arrives (probe), then decoded when analysed (prepare; never for a bad file).
    monkeypatch.setattr(analysis, "probe_video", spying(analysis.probe_video))
    monkeypatch.setattr(analysis, "prepare_clip", spying(analysis.prepare_clip))
    at = upload_and_analyse(new_app(), name, data)
    # A good clip is decoded only if the sample list has not decoded the same bytes already (cached by content).
    assert len(seen) == 1 if name == "bad.mp4" else len(seen) >= 1
    for path, mode, existed in seen:
        assert existed and path.parent.name.startswith("dflens-")
        assert mode == 0o700, f"the upload folder is readable by others: {oct(mode)}"
        assert path.name == safe_name(name)
        assert not path.parent.exists(), "the upload's folder must be deleted after the check and the analysis"
    assert bool(at.error) == (name == "bad.mp4")


# --------------------------------------------------------------------------- names and the temporary copy


@pytest.mark.parametrize(("name", "expected"), [
    ("../../etc/passwd.mp4", "passwd.mp4"),
    ("..\\..\\Windows\\clip.MP4", "clip.mp4"),
    ("/abs/path/clip.avi", "clip.avi"),
    ("my clip (1).mov", "my_clip_1.mov"),
    ("клип ü.mp4", "upload.mp4"),
    ("", "upload"),
    ("..", "upload"),
    (".hidden.mp4", "hidden.mp4"),
])
def test_safe_name(name: str, expected: str):
    assert safe_name(name) == expected


@pytest.mark.parametrize("name", ["../../etc/passwd.mp4", "a/../../b.mp4", "x\x00y.mp4", "~/.bashrc", "C:\\x.jpg",
                                  "v" * 500 + ".mp4", "con.mp4", " .mp4", "片.webm", "a\nb.mkv"])
def test_hostile_names_stay_in_the_private_folder(name: str):
    assert re.fullmatch(r"[A-Za-z0-9._-]{1,84}", safe_name(name)), safe_name(name)
    with temp_copy(name, b"data") as path:
        folder = path.parent
        assert path.resolve().parent == folder.resolve() and folder.name.startswith("dflens-")
        assert path.read_bytes() == b"data"
    assert not folder.exists()


def test_temp_copy_is_deleted_when_the_work_fails():
    with pytest.raises(RuntimeError):
        with temp_copy("clip.mp4", b"data") as path:
            folder = path.parent
            raise RuntimeError("the analysis failed")
    assert not folder.exists()


def test_server_config_keeps_xsrf_and_an_upload_limit():
    config = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text())
    assert config["server"]["enableXsrfProtection"] is True
    assert 0 < config["server"]["maxUploadSize"] <= 200
    assert config["client"]["showErrorDetails"] == "none", "no tracebacks in the browser"
