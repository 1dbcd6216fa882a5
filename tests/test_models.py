"""Tests of e2e_tutorial.models.

FCN: architecture (seminar Figure 9), output convention (signal first, logits -> softmax Eq. 3),
the seminar weight layout, and shape errors. PlainCNN (Figure 15) and ResNet15 (section 5.1):
channels and image sizes, shape errors, the 15 convolutions, Eq. 10 traced layer by layer,
optional BatchNorm, and a small training run."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from e2e_tutorial import metrics
from e2e_tutorial.convolution import conv_output_size
from e2e_tutorial.models import FCN, PlainCNN, ResNet15, trace_shapes


@pytest.fixture
def model() -> FCN:
    torch.manual_seed(0)
    return FCN(5)


def test_default_architecture_and_layer_shapes(model):
    assert model.layer_shapes() == [(5, 64), (64, 64), (64, 2)]
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == model.layer_shapes()
    n_params = sum(p.numel() for p in model.parameters())
    assert n_params == (5 * 64 + 64) + (64 * 64 + 64) + (64 * 2 + 2)


@pytest.mark.parametrize(
    "hidden, n_classes, shapes",
    [
        ((), 2, [(4, 2)]),
        ((10,), 3, [(4, 10), (10, 3)]),
        ((8, 6, 4), 3, [(4, 8), (8, 6), (6, 4), (4, 3)]),
    ],
)
def test_custom_architectures(hidden, n_classes, shapes):
    m = FCN(4, hidden=hidden, n_classes=n_classes)
    assert m.layer_shapes() == shapes
    assert m(torch.zeros(7, 4)).shape == (7, n_classes)


def test_forward_is_relu_network_in_seminar_notation(model):
    """Recompute the forward pass by hand from seminar_parameters: a = ReLU(W^T a_prev + b)."""
    x = torch.randn(11, 5, generator=torch.Generator().manual_seed(1))
    a = x.numpy().astype(np.float64)
    params = model.seminar_parameters()
    for k, (W, b) in enumerate(params):
        assert W.shape == model.layer_shapes()[k]
        z = np.stack([W.T @ row + b for row in a])  # one instance at a time, as in Eq. 2
        a = np.maximum(z, 0.0) if k < len(params) - 1 else z
    np.testing.assert_allclose(model(x).detach().numpy(), a, rtol=1e-5, atol=1e-6)


def test_seminar_parameters_are_transposed_copies(model):
    W, b = model.seminar_parameters()[0]
    np.testing.assert_array_equal(W, model.layers[0].weight.detach().numpy().T)
    W[0, 0] += 1.0  # a copy: the model is unchanged
    assert model.seminar_parameters()[0][0][0, 0] != W[0, 0]


def test_predict_proba_and_signal_score(model):
    x = np.random.default_rng(2).normal(size=(9, 5))
    proba = model.predict_proba(x)  # numpy in, numpy out
    assert isinstance(proba, np.ndarray) and proba.shape == (9, 2)
    ref = torch.softmax(model(torch.as_tensor(x, dtype=torch.float32)), dim=1).detach().numpy()
    np.testing.assert_allclose(proba, ref, rtol=1e-6)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(model.signal_score(x), proba[:, 0])
    np.testing.assert_allclose(model.predict_proba(torch.as_tensor(x)), proba, rtol=1e-6)


@pytest.mark.parametrize(
    "shape",
    [(32, 4), (32, 6), (5,), (2, 5, 1), (5, 32)],
)
def test_wrong_input_shape_raises_with_both_shapes(model, shape):
    expected = f"FCN expects input of shape (batch, 5); got {shape}"
    with pytest.raises(ValueError, match=re.escape(expected)):
        model(torch.zeros(shape))
    with pytest.raises(ValueError, match=re.escape(expected)):
        model.predict_proba(np.zeros(shape))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"n_features": 0}, "n_features must be an integer >= 1; got 0"),
        ({"n_features": 5, "hidden": (64, 0)}, r"hidden must be .* integers >= 1; got \(64, 0\)"),
        ({"n_features": 5, "n_classes": 1}, "n_classes must be an integer >= 2; got 1"),
    ],
)
def test_bad_construction_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        FCN(**kwargs)


def test_trained_fcn_puts_signal_in_column_zero():
    """Train briefly with integer targets 0 = signal: the signal score then separates the
    classes in the direction metrics expects (AUC near 1, not near 0)."""
    torch.manual_seed(3)
    gen = torch.Generator().manual_seed(4)
    n = 512
    labels = torch.randint(0, 2, (n,), generator=gen)
    x = torch.randn(n, 5, generator=gen) + torch.where(labels == 0, 1.0, -1.0)[:, None]
    model = FCN(5, hidden=(16,))
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    for _ in range(60):
        opt.zero_grad()
        F.cross_entropy(model(x), labels).backward()
        opt.step()
    score = model.signal_score(x)
    assert score[labels.numpy() == 0].mean() > 0.9
    assert metrics.auc(labels.numpy(), score) > 0.97


# ============================================================================================
# Convolutional networks: PlainCNN (seminar Figure 15) and ResNet15 (case study, section 5.1)
# ============================================================================================

def _convs(model: torch.nn.Module) -> list[tuple[str, torch.nn.Conv2d]]:
    return [(n, m) for n, m in model.named_modules() if isinstance(m, torch.nn.Conv2d)]


@pytest.mark.parametrize("in_channels", [1, 3, 6])
@pytest.mark.parametrize("hw", [(16, 16), (32, 32), (34, 72)])
@pytest.mark.parametrize("n_classes", [2, 3])
def test_cnns_accept_any_channels_and_image_size(in_channels, hw, n_classes):
    torch.manual_seed(0)
    x = torch.randn(2, in_channels, *hw)
    for model in (
        PlainCNN(in_channels, hw, n_classes=n_classes),
        ResNet15(in_channels, n_classes=n_classes),
    ):
        out = model(x)
        assert out.shape == (2, n_classes) and out.dtype == torch.float32
        assert torch.isfinite(out).all()


def test_cnns_on_a_full_event_image():
    """A whole 3 x 170 x 360 ECAL-barrel event (batch 1), as the study feeds ResNet-15."""
    torch.manual_seed(0)
    x = torch.randn(1, 3, 170, 360)
    with torch.no_grad():
        assert ResNet15(3)(x).shape == (1, 2)
        assert PlainCNN(3, (3, 170, 360))(x).shape == (1, 2)


@pytest.mark.parametrize(
    "model, x, expected",
    [
        (
            ResNet15(3), torch.zeros(2, 1, 34, 72),
            "ResNet15 expects input of shape (batch, 3, H, W); got (2, 1, 34, 72)",
        ),
        (
            ResNet15(6), torch.zeros(6, 16, 16),
            "ResNet15 expects input of shape (batch, 6, H, W); got (6, 16, 16)",
        ),
        (
            ResNet15(1), torch.zeros(2, 1, 1, 16, 16),
            "ResNet15 expects input of shape (batch, 1, H, W); got (2, 1, 1, 16, 16)",
        ),
        (
            PlainCNN(3, (32, 32)), torch.zeros(4, 6, 32, 32),
            "PlainCNN expects input of shape (batch, 3, 32, 32); got (4, 6, 32, 32)",
        ),
        (
            PlainCNN(3, (32, 32)), torch.zeros(4, 3, 16, 16),
            "PlainCNN expects input of shape (batch, 3, 32, 32); got (4, 3, 16, 16)",
        ),
        (
            PlainCNN(1, (16, 16)), torch.zeros(1, 16, 16),
            "PlainCNN expects input of shape (batch, 1, 16, 16); got (1, 16, 16)",
        ),
    ],
)
def test_cnns_reject_wrong_shapes_naming_both(model, x, expected):
    with pytest.raises(ValueError, match=re.escape(expected)):
        model(x)


def test_resnet15_has_fifteen_convolutions_plus_one_shortcut_projection():
    """1 (7x7) + 7 blocks x 2 (3x3) = 15; the 1x1 projection on block4's shortcut is extra."""
    model = ResNet15(3)
    convs = _convs(model)
    main = [(n, m) for n, m in convs if ".shortcut." not in n]
    shortcut = [(n, m) for n, m in convs if ".shortcut." in n]
    assert len(main) == 15 and len(convs) == 16
    assert [m.kernel_size for _, m in main] == [(7, 7)] + [(3, 3)] * 14
    assert [m.out_channels for _, m in main] == [16] * 7 + [32] * 8
    assert [n for n, m in main if m.stride == (2, 2)] == ["layers.block4.residual.conv1"]
    assert [(n, m.kernel_size, m.stride, m.in_channels, m.out_channels) for n, m in shortcut] == [
        ("layers.block4.shortcut.conv", (1, 1), (2, 2), 16, 32)
    ]
    assert sum(isinstance(m, torch.nn.ReLU) for m in model.modules()) == 1 + 7 * 2
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(32, 2)]
    assert isinstance(model.layers.global_max_pool, torch.nn.AdaptiveMaxPool2d)


def test_resnet15_global_max_pooling_takes_the_largest_value_of_each_map():
    torch.manual_seed(1)
    model = ResNet15(1)
    x = torch.randn(3, 1, 20, 24)
    feats = model.layers[:-3](x)  # the last block's maps, (3, 32, 10, 12)
    pooled = model.layers.flatten(model.layers.global_max_pool(feats))
    torch.testing.assert_close(pooled, feats.amax(dim=(2, 3)))
    torch.testing.assert_close(model(x), model.layers.linear(pooled))


@pytest.mark.parametrize(
    "hw, halved", [((34, 72), (17, 36)), ((33, 71), (17, 36)), ((16, 16), (8, 8))]
)
def test_stride_two_transition_halves_the_spatial_size(hw, halved):
    shapes = dict(trace_shapes(ResNet15(3), (3, *hw)))
    assert shapes["block3"] == (16, *hw)
    assert shapes["block4"] == (32, *halved) == shapes["block7"]
    assert halved == tuple(conv_output_size(n, 3, 1, 2) for n in hw)  # Eq. 10, rounds up


def test_trace_shapes_of_a_full_event_through_resnet15_by_hand():
    """Appendix B.3 for the 3 x 170 x 360 event image: the 7x7 convolution (padding 3) and the
    3x3 ones (padding 1) keep 170 x 360; block4's stride 2 gives 85 x 180."""
    eta, phi = 170, 360
    assert conv_output_size(eta, 7, 3, 1) == eta and conv_output_size(phi, 7, 3, 1) == phi
    assert conv_output_size(eta, 3, 1, 1) == eta and conv_output_size(phi, 3, 1, 1) == phi
    eta2, phi2 = conv_output_size(eta, 3, 1, 2), conv_output_size(phi, 3, 1, 2)
    assert (eta2, phi2) == (85, 180)
    # the 1x1 stride-2 projection on the shortcut gives the same size
    assert (conv_output_size(eta, 1, 0, 2), conv_output_size(phi, 1, 0, 2)) == (85, 180)
    expected = [
        ("input", (3, 170, 360)),
        ("conv0", (16, 170, 360)),
        ("relu0", (16, 170, 360)),
        ("block1", (16, 170, 360)),
        ("block2", (16, 170, 360)),
        ("block3", (16, 170, 360)),
        ("block4", (32, 85, 180)),
        ("block5", (32, 85, 180)),
        ("block6", (32, 85, 180)),
        ("block7", (32, 85, 180)),
        ("global_max_pool", (32, 1, 1)),
        ("flatten", (32,)),
        ("linear", (2,)),
    ]
    model = ResNet15(3)
    model.train()
    assert trace_shapes(model, (3, 170, 360)) == expected
    assert model.training  # mode restored


def test_trace_shapes_leaves_and_other_models():
    leaves = dict(trace_shapes(ResNet15(6, norm=True), (6, 32, 32), leaves=True))
    assert leaves["block4.residual.conv1"] == (32, 16, 16)
    assert leaves["block4.shortcut.conv"] == leaves["block4.shortcut.norm"] == (32, 16, 16)
    assert leaves["block1.residual.norm2"] == (16, 32, 32)
    assert sum(".conv" in n or n == "conv0" for n in leaves) == 16
    assert trace_shapes(FCN(5), (5,)) == [("input", (5,)), ("0", (64,)), ("1", (64,)), ("2", (2,))]
    seq = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.MaxPool2d(2))
    expected = [("input", (1, 10, 10)), ("0", (4, 8, 8)), ("1", (4, 4, 4))]
    assert trace_shapes(seq, (1, 10, 10)) == expected
    with pytest.raises(ValueError, match=re.escape("got (1, 2, 32, 32)")):
        trace_shapes(ResNet15(6), (2, 32, 32))
    with pytest.raises(ValueError, match="input_shape must be a tuple of sizes >= 1"):
        trace_shapes(ResNet15(6), (6, 0, 32))


@pytest.mark.parametrize(
    "image_shape, channels, kernel_size, pool, padding",
    [
        ((3, 170, 360), (16, 32), 3, 2, None),
        ((170, 360), (8,), 5, 3, 0),
        ((32, 32), (16, 32), 3, 2, None),
        ((16, 16), (4, 8, 16), 3, 2, 1),
        ((34, 72), (8, 8), 4, 2, 1),  # an even kernel with padding 1 changes the size
        ((17, 23), (5,), 3, 1, 0),
    ],
)
def test_plain_cnn_flatten_size_follows_eq10(image_shape, channels, kernel_size, pool, padding):
    in_channels = image_shape[0] if len(image_shape) == 3 else 2
    model = PlainCNN(
        in_channels, image_shape, channels=channels, kernel_size=kernel_size, pool=pool,
        padding=padding,
    )
    p = kernel_size // 2 if padding is None else padding
    h, w = image_shape[-2:]
    for _ in channels:  # by Eq. 10: convolution (stride 1), then pooling (stride = pool)
        h, w = conv_output_size(h, kernel_size, p, 1), conv_output_size(w, kernel_size, p, 1)
        h, w = conv_output_size(h, pool, 0, pool), conv_output_size(w, pool, 0, pool)
    assert model.flatten_size == channels[-1] * h * w
    assert model.layers.linear.in_features == model.flatten_size
    traced = dict(trace_shapes(model, (in_channels, *image_shape[-2:])))
    assert traced["flatten"] == (model.flatten_size,)
    names = [n for n, _ in model.layers.named_children()]
    assert names[:4] == ["conv1", "relu1", "pool1", "conv2" if len(channels) > 1 else "flatten"]


def test_norm_adds_batchnorm_after_every_convolution():
    def bns(model):
        return [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]

    assert bns(ResNet15(3)) == [] and bns(PlainCNN(3, (32, 32))) == []
    resnet = ResNet15(3, norm=True)
    assert len(bns(resnet)) == 16 == len(_convs(resnet))  # the shortcut projection too
    assert all(conv.bias is None for _, conv in _convs(resnet))  # BN's shift replaces the bias
    plain = PlainCNN(3, (32, 32), channels=(8, 16, 32), norm=True)
    assert len(bns(plain)) == 3
    assert [n for n, _ in plain.layers.named_children()][:4] == ["conv1", "norm1", "relu1", "pool1"]
    assert resnet(torch.randn(4, 3, 16, 16)).shape == (4, 2)
    assert ResNet15(3, stem_stride=2).layers.conv0.stride == (2, 2)


@pytest.mark.parametrize(
    "build, message",
    [
        (lambda: ResNet15(0), "in_channels must be an integer >= 1; got 0"),
        (lambda: ResNet15(3, n_classes=1), "n_classes must be an integer >= 2; got 1"),
        (
            lambda: PlainCNN(3, (3, 3, 32, 32)),
            "image_shape must be (H, W) or (C, H, W) with C = in_channels = 3",
        ),
        (lambda: PlainCNN(3, (1, 32, 32)), "got (1, 32, 32)"),
        (lambda: PlainCNN(1, (32, 32), channels=()), "channels must be a non-empty sequence"),
        (
            lambda: PlainCNN(1, (4, 4), channels=(8, 8, 8)),
            "image_shape (4, 4) is too small for 3 stages",
        ),
        (lambda: PlainCNN(1, (32, 32), pool=0), "pool must be an integer >= 1; got 0"),
    ],
)
def test_cnn_bad_construction_arguments(build, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        build()


def _blob_images(n: int, seed: int, size: int = 16) -> tuple[torch.Tensor, torch.Tensor]:
    """Noise images; the signal (label 0) ones also have a bright 3x3 blob somewhere."""
    gen = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 2, (n,), generator=gen)
    x = 0.3 * torch.randn(n, 1, size, size, generator=gen)
    rows = torch.randint(1, size - 1, (n,), generator=gen)
    cols = torch.randint(1, size - 1, (n,), generator=gen)
    for k in torch.nonzero(labels == 0).flatten().tolist():
        r, c = rows[k].item(), cols[k].item()
        x[k, 0, r - 1 : r + 2, c - 1 : c + 2] += 2.0
    return x, labels


@pytest.mark.parametrize(
    "make, lr",
    [(lambda: PlainCNN(1, (16, 16), channels=(8, 16)), 3e-3), (lambda: ResNet15(1), 5e-4)],
    ids=["PlainCNN", "ResNet15"],
)
def test_cnns_learn_a_bright_blob(make, lr):
    """20 Adam steps on mini-batches of 32 with integer labels (0 = signal = has a blob) reduce
    the loss on the whole toy set, and the signal probability (column 0) then ranks the blob
    images first. (Over seeds 0-9 the loss ratio was 0.3-0.7 for PlainCNN and 0.07-0.44 for
    ResNet15; with lr 1e-3 or more the unnormalised ResNet15 reaches ~0 loss and then
    spikes, so the smoke test stays at the study's lower learning rate.)"""
    torch.manual_seed(0)
    x, labels = _blob_images(128, seed=1)
    model = make()
    with torch.no_grad():
        before = F.cross_entropy(model(x), labels).item()
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    for step in range(20):
        idx = torch.arange(step * 32, step * 32 + 32) % len(x)
        opt.zero_grad()
        F.cross_entropy(model(x[idx]), labels[idx]).backward()
        opt.step()
    with torch.no_grad():
        logits = model(x)
    assert F.cross_entropy(logits, labels).item() < 0.8 * before
    p_signal = torch.softmax(logits, dim=1)[:, 0].numpy()
    assert metrics.auc(labels.numpy(), p_signal) > 0.95
