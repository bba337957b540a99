"""Analyses running at the same time share one detector and still get their own, correct results.

The dashboard keeps one Detector for every session (``st.cache_resource``) and
Streamlit runs each session's script in its own thread. Scoring runs under
``torch.inference_mode`` and never changes the model; Grad-CAM hooks a private
copy of it (dfcore.models.explain). These tests run analyses in parallel threads and
require exactly what the same analyses give one after another. The detector
is the session's UNTRAINED checkpoint: only equality is checked, not verdicts.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from dfcore.analyze import AnalysisResult, analyze_video

N_FRAMES = 4
THREADS = 3


def _same(a: AnalysisResult, b: AnalysisResult) -> None:
    assert a.path == b.path and a.verdict == b.verdict
    assert a.fake_probability == pytest.approx(b.fake_probability, abs=1e-5)
    assert [f.box for f in a.frames] == [f.box for f in b.frames]
    np.testing.assert_allclose([f.fake_probability for f in a.frames], [f.fake_probability for f in b.frames],
                               atol=1e-5)
    assert (a.cams is None) == (b.cams is None)
    if a.cams is not None:
        assert len(a.cams) == len(b.cams)
        for ca, cb in zip(a.cams, b.cams):
            assert (ca is None) == (cb is None)
            if ca is not None:
                np.testing.assert_allclose(ca, cb, atol=1e-4)


@pytest.fixture(scope="module")
def clips(face_video: Path, fake_videos: list[Path]) -> list[Path]:
    return [face_video, fake_videos[0]]


@pytest.mark.parametrize("explain", [False, True])
def test_parallel_analyses_equal_sequential(clips: list[Path], detector, explain: bool) -> None:
    sequential = {str(p): analyze_video(p, N_FRAMES, detector=detector, explain=explain) for p in clips}
    # The two clips must differ, or mixing them up between threads would go unnoticed.
    a, b = sequential.values()
    assert a.fake_probability != pytest.approx(b.fake_probability, abs=1e-6)

    start = threading.Barrier(THREADS)

    def work(k: int) -> list[AnalysisResult]:
        start.wait()  # all threads begin together
        order = clips if k % 2 == 0 else clips[::-1]  # different clips in flight at the same moment
        return [analyze_video(p, N_FRAMES, detector=detector, explain=explain) for p in order]

    with ThreadPoolExecutor(THREADS) as pool:
        results = [r for rs in pool.map(work, range(THREADS)) for r in rs]
    assert len(results) == THREADS * len(clips)
    for r in results:
        _same(r, sequential[r.path])


def test_parallel_explain_leaves_the_shared_model_untouched(clips: list[Path], detector) -> None:
    before = {k: v.clone() for k, v in detector.model.state_dict().items()}
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda p: analyze_video(p, 2, detector=detector, explain=True), clips))
    for name, module in detector.model.named_modules():
        assert not module._forward_hooks and not module._backward_hooks, f"a hook was left on {name or 'the model'}"
        assert not getattr(module, "_forward_pre_hooks", None)
    assert not detector.model.training
    after = detector.model.state_dict()
    assert all(np.array_equal(before[k].numpy(), after[k].numpy()) for k in before)
    assert all(p.grad is None for p in detector.model.parameters())
