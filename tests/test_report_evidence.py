"""Saved results hold up as evidence: they name the file (name, size, sha256), the time, the model and the rule.

The analyses use the session's UNTRAINED checkpoint (see conftest.py): only
what the report records is checked, never what the verdict says. The browser
test opens a report from disk in Debian's Chromium with every non-file request
refused, and checks that none was needed and that its chart is drawn.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from pathlib import Path

import pytest

from dfcore.analyze import AnalysisResult, analyze_video
from dfcore.cli import main
from dfcore.decision import percent
from dfcore.provenance import DECISION_RULE, describe_bytes, describe_input
from dfcore.reporting.report import RESULT_JSON_ID, html_report, report_filename
from ui_fixtures import CHROMIUM, screenshot

N_FRAMES = 6


@pytest.fixture(scope="module")
def result(face_video: Path, detector) -> AnalysisResult:
    return analyze_video(face_video, N_FRAMES, detector=detector, explain=True)


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_result_names_the_file_the_model_and_the_time(result: AnalysisResult, face_video: Path,
                                                      checkpoint: Path) -> None:
    d = json.loads(json.dumps(result.to_dict()))
    assert d["input"] == {"name": face_video.name, "size_bytes": face_video.stat().st_size,
                          "sha256": file_sha256(face_video)}
    analysed = dt.datetime.strptime(d["analysed_at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.timezone.utc)
    assert abs(dt.datetime.now(dt.timezone.utc) - analysed) < dt.timedelta(minutes=10)
    assert d["model"]["sha256"] == file_sha256(checkpoint) and d["model"]["file"] == checkpoint.name
    assert d["model"]["version"]["checkpoint_format"] >= 1
    assert d["dfcore_version"]
    decision = d["decision"]
    assert decision["rule"] == DECISION_RULE and decision["threshold_rule"] is None
    assert decision["threshold"] == decision["t_fake"] == d["threshold"] and decision["t_no_sign"] <= d["threshold"]
    assert d["n_frames"] == len(d["frames"]) == N_FRAMES and isinstance(d["notes"], list)


def test_cli_json_names_the_input(face_video: Path, checkpoint: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["analyze", str(face_video), "--json", "--frames", "3", "--weights", str(checkpoint),
                 "--device", "cpu"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["input"]["sha256"] == file_sha256(face_video) and d["input"]["name"] == face_video.name
    assert d["analysed_at"].endswith("Z") and d["model"]["version"]


def test_damaged_file_is_noted_and_still_identified(truncated_video: Path, detector) -> None:
    d = analyze_video(truncated_video, 4, detector=detector).to_dict()
    assert d["input"]["sha256"] == file_sha256(truncated_video)
    assert any("damaged or truncated" in n for n in d["notes"]), d["notes"]


def test_describe_bytes_matches_describe_input(face_video: Path) -> None:
    from_disk = describe_input(face_video, name="upload name.mp4")
    assert from_disk == describe_bytes("C:\\Users\\x\\upload name.mp4", face_video.read_bytes())


@pytest.mark.parametrize(("name", "verdict", "expected"), [
    ("clip.mp4", "FAKE", "clip.mp4.FAKE.deepfake-lens.json"),
    ("../../secret/clip.mp4", "NO_SIGN", "clip.mp4.NO_SIGN.deepfake-lens.json"),
    ("C:\\videos\\my clip (1).MOV", "NO_FACE", "my clip (1).MOV.NO_FACE.deepfake-lens.json"),
    ("a\nb.mp4", "UNCERTAIN", "ab.mp4.UNCERTAIN.deepfake-lens.json"),
    ("", "NO_SIGN", "clip.NO_SIGN.deepfake-lens.json"),
])
def test_report_filename(name: str, verdict: str, expected: str) -> None:
    assert report_filename(name, verdict, "json") == expected


def test_html_report_carries_the_identity_and_the_json(result: AnalysisResult, face_video: Path) -> None:
    html = html_report(result, face_video.name, top_k=2)
    for fact in (file_sha256(face_video), f"{face_video.stat().st_size:,} bytes", result.analysed_at,
                 result.model_sha256, result.model_file, "checkpoint_format: 1", DECISION_RULE,
                 f"FAKE at or above {percent(result.threshold)}; NO SIGN below {percent(result.t_no_sign)}"):
        assert fact in html, fact
    embedded = re.search(rf'<script type="application/json" id="{RESULT_JSON_ID}">(.*?)</script>', html, re.S)
    assert json.loads(embedded.group(1)) == json.loads(json.dumps(result.to_dict()))


def test_html_report_cannot_be_broken_out_of_by_a_name(result: AnalysisResult) -> None:
    hostile = "</script><script>alert(1)</script>.mp4"
    named = AnalysisResult(**{**result.__dict__, "input_file": describe_bytes(hostile, b"x")})
    html = html_report(named, hostile, top_k=0)
    assert "<script>alert(1)" not in html


@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is missing (apt-get install -y chromium; CI has it)")
def test_html_report_opens_offline_and_draws_its_chart(result: AnalysisResult, face_video: Path, tmp_path: Path,
                                                       browser, failure_screenshots: list) -> None:
    report = tmp_path / report_filename(face_video.name, result.verdict, "html")
    report.write_text(html_report(result, face_video.name))
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    failure_screenshots.append(page)
    refused: list[str] = []

    def only_files(route) -> None:
        if route.request.url.startswith("file:"):
            route.continue_()
        else:
            refused.append(route.request.url)
            route.abort()

    page.route("**/*", only_files)
    page.goto(report.as_uri())
    page.locator(".js-plotly-plot .scatterlayer .trace .point").first.wait_for(timeout=60_000)
    assert page.locator(".js-plotly-plot .scatterlayer .trace").first.locator(".point").count() == result.n_faces
    page.wait_for_function("[...document.images].every((i) => i.complete && i.naturalWidth > 0)")
    assert file_sha256(face_video) in page.inner_text("body")
    assert refused == [], f"the report asked the network for {refused}"
    screenshot(page, "report_offline")
    page.close()
