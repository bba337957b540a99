"""The OpenAPI contract, kept (issue 30, item 6): a bounded Schemathesis run against ``dfcore serve`` on loopback.

Every check (``--checks all``), with the API key, a fixed seed and 100 examples per operation; it must find
nothing. The file part gets small files that decode (tests/schemathesis_hooks.py): a schema can say "a video",
not "bytes that decode", and the server's 422 for undecodable bytes is declared, not a contract breach.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from api_fixtures import served_api
from ui_fixtures import REPO

from dfcore.media.video_writer import write_h264

pytestmark = pytest.mark.slow

KEY = "contract-test-key"
SEED, EXAMPLES = 1, 100


def test_schemathesis_finds_nothing(checkpoint: Path, tmp_path: Path) -> None:
    schemathesis = shutil.which("schemathesis", path=str(Path(sys.executable).parent))
    if schemathesis is None:
        pytest.skip("schemathesis is not installed (requirements-dev.txt)")
    files = tmp_path / "files"
    files.mkdir()
    img = np.full((48, 64, 3), 120, np.uint8)
    cv2.imwrite(str(files / "still.jpg"), img)
    cv2.imwrite(str(files / "still.png"), img)
    write_h264([img] * 3, files / "clip.mp4", 10)
    with served_api(checkpoint, tmp_path / "server", "--workers", "2", "--queue", "4", api_key=KEY) as server:
        run = subprocess.run(
            [schemathesis, "run", server.url + "/openapi.json", "--checks", "all", "-n", str(EXAMPLES), "--seed",
             str(SEED), "-H", f"Authorization: Bearer {KEY}", "--continue-on-failure", "--no-color"],
            env={**os.environ, "SCHEMATHESIS_HOOKS": "schemathesis_hooks", "DFCORE_CONTRACT_FILES": str(files),
                 "PYTHONPATH": str(REPO / "tests")},
            capture_output=True, text=True, timeout=600, cwd=tmp_path)
    summary = [line for line in run.stdout.splitlines() if "generated" in line or "issues" in line or "fail" in line]
    print("\nschemathesis:", " | ".join(s.strip() for s in summary))
    assert run.returncode == 0 and "No issues found" in run.stdout, run.stdout[-6000:]
