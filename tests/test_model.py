"""dfcore.models.model: the ResNeXt-LSTM's shapes, padding invariance and factory.

All models here are randomly initialised: these tests check the architecture's
arithmetic, not detection quality.
"""

from __future__ import annotations

import pytest
import torch

from dfcore.models.model import MODEL_CONFIGS, ModelConfig, ResNeXtLSTM, create_model


@pytest.fixture(scope="module")
def model() -> ResNeXtLSTM:
    torch.manual_seed(0)
    return create_model("resnext_compact_lstm").eval()


def _crops(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def test_output_shapes(model: ResNeXtLSTM) -> None:
    x = _crops(2, 4, 3, 112, 112)
    with torch.no_grad():
        clip, frames = model(x)
    assert clip.shape == (2,)
    assert frames.shape == (2, 4)
    assert torch.isfinite(clip).all() and torch.isfinite(frames).all()
    feats = model.features(x.flatten(0, 1))
    assert feats.shape == (8, model.backbone.out_features)


def test_feature_map_is_7x7_at_112(model: ResNeXtLSTM) -> None:
    seen = {}

    def hook(module, inputs, output) -> None:  # returns None: the output is left as it is
        seen["shape"] = output.shape

    handle = model.feature_layer.register_forward_hook(hook)
    try:
        with torch.no_grad():
            model(_crops(1, 2, 3, 112, 112))
    finally:
        handle.remove()
    assert seen["shape"][-2:] == (7, 7)
    assert model.feature_layer is model.backbone.layer4


def test_padding_does_not_change_scores(model: ResNeXtLSTM) -> None:
    x5 = _crops(1, 5, 3, 112, 112, seed=1)
    padded = torch.cat([x5, _crops(1, 3, 3, 112, 112, seed=2)], dim=1)  # T=8, the last 3 are junk
    with torch.no_grad():
        clip_ref, frames_ref = model(x5)
        clip_pad, frames_pad = model(padded, lengths=torch.tensor([5]))
    torch.testing.assert_close(clip_pad, clip_ref, atol=1e-5, rtol=0)
    torch.testing.assert_close(frames_pad[:, :5], frames_ref, atol=1e-5, rtol=0)


def test_padding_in_a_mixed_batch(model: ResNeXtLSTM) -> None:
    a = _crops(1, 8, 3, 112, 112, seed=3)
    b = _crops(1, 3, 3, 112, 112, seed=4)
    batch = torch.cat([a, torch.cat([b, torch.zeros(1, 5, 3, 112, 112)], dim=1)])
    with torch.no_grad():
        clip, _ = model(batch, lengths=torch.tensor([8, 3]))
        clip_a, _ = model(a)
        clip_b, _ = model(b)
    torch.testing.assert_close(clip, torch.cat([clip_a, clip_b]), atol=1e-5, rtol=0)


def test_the_padded_junk_would_matter_unmasked(model: ResNeXtLSTM) -> None:
    # The guard for the test above: without lengths, the junk steps do change the score.
    x5 = _crops(1, 5, 3, 112, 112, seed=1)
    padded = torch.cat([x5, _crops(1, 3, 3, 112, 112, seed=2)], dim=1)
    with torch.no_grad():
        assert not torch.allclose(model(padded)[0], model(x5)[0], atol=1e-5)


def test_heads_on_features_equals_forward(model: ResNeXtLSTM) -> None:
    x = _crops(2, 3, 3, 112, 112, seed=5)
    with torch.no_grad():
        clip, frames = model(x)
        feats = model.features(x.flatten(0, 1)).view(2, 3, -1)
        clip_h, frames_h = model.heads(feats)
    assert torch.equal(clip_h, clip)
    assert torch.equal(frames_h, frames)


def test_frame_logit_depends_only_on_its_frame(model: ResNeXtLSTM) -> None:
    x = _crops(1, 4, 3, 112, 112, seed=6)
    y = x.clone()
    y[0, 3] = _crops(3, 112, 112, seed=7)  # change only the last frame
    with torch.no_grad():
        _, fx = model(x)
        _, fy = model(y)
    torch.testing.assert_close(fx[0, :3], fy[0, :3], atol=1e-5, rtol=0)
    assert not torch.isclose(fx[0, 3], fy[0, 3], atol=1e-5)


def test_eval_is_deterministic_and_train_uses_dropout() -> None:
    torch.manual_seed(1)
    m = create_model("resnext_compact_lstm")
    x = _crops(1, 3, 3, 112, 112, seed=8)
    m.eval()
    with torch.no_grad():
        assert torch.equal(m(x)[0], m(x)[0])
    m.train()
    with torch.no_grad():
        outs = [m(x)[0] for _ in range(3)]
    assert not (torch.equal(outs[0], outs[1]) and torch.equal(outs[1], outs[2]))


def test_create_model_unknown_name() -> None:
    with pytest.raises(ValueError, match="unknown model"):
        create_model("efficientnet_lstm")


def test_create_model_refuses_pretrained() -> None:
    with pytest.raises(ValueError, match="pretrained"):
        create_model("resnext_compact_lstm", pretrained=True)


def test_create_model_overrides() -> None:
    m = create_model("resnext_compact_lstm", lstm_hidden=32, bidirectional=False)
    assert m.config.lstm_hidden == 32 and not m.config.bidirectional
    assert m.clip_head.in_features == 32
    assert m.config.stage_planes == MODEL_CONFIGS["resnext_compact_lstm"].stage_planes
    with pytest.raises(ValueError, match="unknown model config field"):
        create_model("resnext_compact_lstm", hidden=32)


def test_unknown_backbone() -> None:
    with pytest.raises(ValueError, match="unknown backbone"):
        ResNeXtLSTM(ModelConfig(backbone="vgg16"))


def test_model_config_round_trip() -> None:
    cfg = ModelConfig(stage_planes=(8, 16, 32, 64), stage_blocks=(1, 1, 1, 1), lstm_hidden=64, dropout=0.1)
    d = cfg.to_dict()
    assert d["stage_planes"] == [8, 16, 32, 64]  # lists, as JSON and torch's weights-only loader want
    assert ModelConfig.from_dict(d) == cfg
    for name, c in MODEL_CONFIGS.items():
        assert ModelConfig.from_dict(c.to_dict()) == c, name
    with pytest.raises(ValueError, match="unknown model config field"):
        ModelConfig.from_dict({**d, "extra": 1})


def test_resnext50_lstm_shapes() -> None:
    m = create_model("resnext50_lstm").eval()
    assert m.backbone.out_features == 2048
    with torch.no_grad():
        clip, frames = m(_crops(1, 2, 3, 112, 112, seed=9))
    assert clip.shape == (1,) and frames.shape == (1, 2)


@pytest.mark.parametrize("stage", ["layer1", "layer2", "layer3", "layer4"])
def test_features_split_at_a_stage_are_the_features(stage: str) -> None:
    torch.manual_seed(0)
    model = create_model("resnext_compact_lstm").eval()
    x = torch.randn(3, 3, 112, 112)
    with torch.no_grad():
        maps = model.stage_output(x, stage)
        assert maps.ndim == 4 and maps.shape[0] == 3
        torch.testing.assert_close(model.features_after(maps, stage), model.features(x))
    with pytest.raises(ValueError, match="unknown backbone stage"):
        model.stage_output(x, "stem")


class _NormAct(torch.nn.BatchNorm2d):
    """A norm that applies its activation itself, as timm's BatchNormAct2d does."""

    def __init__(self, channels: int) -> None:
        super().__init__(channels)
        self.drop, self.act = torch.nn.Identity(), torch.nn.ReLU6()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.drop(super().forward(x)))


def test_fold_batchnorm_in_place_keeps_outputs_and_activations() -> None:
    from dfcore.models.model import fold_batchnorm_in_place

    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, stride=2, bias=False), _NormAct(8),
        torch.nn.Conv2d(8, 8, 3, padding=1, groups=8, bias=True), torch.nn.BatchNorm2d(8),
        torch.nn.ReLU(), torch.nn.BatchNorm2d(8),  # a norm after an activation: not foldable, kept
    ).eval()
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)
    x = torch.randn(2, 3, 17, 17)
    with torch.no_grad():
        before = net(x)
        assert fold_batchnorm_in_place(net) == 2
        torch.testing.assert_close(net(x), before, atol=1e-5, rtol=1e-5)
    assert isinstance(net[1], torch.nn.Sequential) and isinstance(net[1][1], torch.nn.ReLU6)
    assert isinstance(net[3], torch.nn.Identity) and isinstance(net[5], torch.nn.BatchNorm2d)


def test_inference_backbone_gives_the_same_features() -> None:
    from dfcore.models.model import inference_backbone

    torch.manual_seed(0)
    model = create_model("resnext_compact_lstm")
    with pytest.raises(ValueError, match="eval-mode"):
        inference_backbone(model.backbone)
    model.eval()
    # Non-trivial BatchNorm statistics, as a trained model has (fresh ones are the identity).
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    fast = inference_backbone(model.backbone)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in fast.modules())  # folded away
    x = torch.randn(4, 3, 112, 112)
    with torch.no_grad():
        torch.testing.assert_close(fast(x.contiguous(memory_format=torch.channels_last)), model.features(x),
                                   atol=1e-4, rtol=1e-4)
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())  # the original is untouched
