"""Schemathesis hooks for the contract test (test_attack_contract.py): real files for the file part's media types.

A schema can say a part is a video or an image, not that its bytes decode; Schemathesis would send random
bytes, which the server rightly refuses (422). These strategies send small files that do decode, so a
schema-valid request is one the server can analyse. The files are made by the test (``$DFCORE_CONTRACT_FILES``).
"""

from __future__ import annotations

import os
from pathlib import Path

import schemathesis
from hypothesis import strategies as st

FILES = Path(os.environ["DFCORE_CONTRACT_FILES"])
KINDS = {"image/jpeg": "still.jpg", "image/png": "still.png"}
VIDEO_TYPES = ("video/mp4", "video/quicktime", "video/webm", "video/x-m4v", "video/x-matroska", "video/x-msvideo")

for media_type, name in KINDS.items():
    schemathesis.openapi.media_type(media_type, st.just((FILES / name).read_bytes()))
for media_type in VIDEO_TYPES:
    schemathesis.openapi.media_type(media_type, st.just((FILES / "clip.mp4").read_bytes()))
