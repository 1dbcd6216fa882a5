"""Tests of e2e_tutorial.images: event images, downsampling, crops, the event display (seminar 2.4)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest

from e2e_tutorial import images
from e2e_tutorial.detector import DetectorResponse, simulate
from e2e_tutorial.generation import PARTICLE_DTYPE, generate
from e2e_tutorial.images import crop, crop_pair, downsample_image, event_image, plot_event_image


def hand_response() -> DetectorResponse:
    """A response written by hand: two tracks in one crystal, ECAL hits, two HCAL towers."""
    i = np.array
    return DetectorResponse(
        track_ieta=i([10, 10, 169]), track_iphi=i([0, 0, 359]), track_pt=i([1.5, 2.5, 7.0]),
        track_particle=i([0, 1, 2]),
        ecal_ieta=i([0, 84, 85]), ecal_iphi=i([5, 180, 181]), ecal_energy=i([0.2, 30.0, -0.03]),
        hcal_ieta=i([0, 33]), hcal_iphi=i([0, 71]), hcal_energy=i([4.0, 10.0]),
        ecal_true=np.zeros(3), hcal_true=np.zeros(3),
        impact_eta=np.zeros(3), impact_phi=np.zeros(3),
    )


@pytest.fixture(scope="module")
def event_response() -> DetectorResponse:
    particles = next(generate("gj", 1, seed=5, mpi=True, prefilter=True))
    return simulate(particles, np.random.default_rng(0))


def test_hand_response_lands_where_written():
    img = event_image(hand_response())
    assert img.shape == (3, 170, 360) and img.dtype == np.float32
    assert img[0, 10, 0] == pytest.approx(4.0) and img[0, 169, 359] == pytest.approx(7.0)
    assert img[1, 84, 180] == pytest.approx(30.0) and img[1, 85, 181] == pytest.approx(-0.03)
    # Tower (0, 0) covers crystals 0..4 x 0..4; tower (33, 71) covers 165..169 x 355..359.
    np.testing.assert_array_equal(img[2, :5, :5], np.full((5, 5), 4.0, dtype=np.float32))
    np.testing.assert_array_equal(img[2, 165:, 355:], np.full((5, 5), 10.0, dtype=np.float32))
    assert np.count_nonzero(img[2]) == 50
    shared = event_image(hand_response(), hcal="share")
    np.testing.assert_allclose(shared[2, :5, :5], 4.0 / 25)
    np.testing.assert_array_equal(shared[:2], img[:2])


@pytest.mark.parametrize("hcal, factor", [("copy", 25.0), ("share", 1.0)])
def test_channel_sums_match_the_hits(event_response, hcal, factor):
    r = event_response
    img = event_image(r, hcal=hcal).astype(np.float64)
    assert r.ecal_energy.size > 50 and r.track_pt.size > 0 and r.hcal_energy.size > 0
    assert img[0].sum() == pytest.approx(r.track_pt.sum(), rel=1e-5)
    assert img[1].sum() == pytest.approx(r.ecal_energy.sum(), rel=1e-5)
    assert img[2].sum() == pytest.approx(factor * r.hcal_energy.sum(), rel=1e-5)


@pytest.mark.parametrize("k", [2, 5, 10])
def test_downsampling_conserves_sums(event_response, k):
    full = event_image(event_response)
    small = event_image(event_response, downsample=k)
    assert small.shape == (3, 170 // k, 360 // k) and small.dtype == np.float32
    np.testing.assert_allclose(
        small.sum(axis=(1, 2), dtype=np.float64), full.sum(axis=(1, 2), dtype=np.float64), rtol=1e-5
    )
    np.testing.assert_array_equal(downsample_image(full, k), small)
    # One block by hand.
    block = full[1, 3 * k : 4 * k, 7 * k : 8 * k].sum(dtype=np.float64)
    assert small[1, 3, 7] == pytest.approx(block, rel=1e-5)


@pytest.mark.parametrize("k", [3, 4, 0, 17, 2.0, True])
def test_bad_downsampling_factor_raises(k):
    with pytest.raises(ValueError, match="170 and 360"):
        event_image(hand_response(), downsample=k)
    with pytest.raises(ValueError, match="170 and 360"):
        downsample_image(np.zeros((3, 170, 360)), k)


def known_pattern(channels: int = 2) -> np.ndarray:
    """Pixel value = 100000 c + 1000 ieta + iphi (+1 so that no pixel is 0)."""
    c, i, j = np.meshgrid(np.arange(channels), np.arange(170), np.arange(360), indexing="ij")
    return (100000 * c + 1000 * i + j + 1).astype(np.float64)


def test_crop_of_known_pattern():
    img = known_pattern()
    out = crop(img, 50, 100, size=8)  # rows 46..53, columns 96..103
    assert out.shape == (2, 8, 8)
    np.testing.assert_array_equal(out, img[:, 46:54, 96:104])
    assert out[1, 4, 4] == img[1, 50, 100]  # the centre crystal sits at size // 2
    odd = crop(img, 50, 100, size=5)
    np.testing.assert_array_equal(odd, img[:, 48:53, 98:103])


def test_crop_wraps_phi_and_pads_eta():
    img = known_pattern()
    out = crop(img, 2, 358, size=8)  # rows -2..5, columns 354..359, 0, 1
    cols = [354, 355, 356, 357, 358, 359, 0, 1]
    np.testing.assert_array_equal(out[:, 2:], img[:, 0:6][:, :, cols])
    assert np.all(out[:, :2] == 0)  # beyond the barrel edge at eta = -1.48
    top = crop(img, 168, 0, size=6)  # rows 165..170: the last is beyond the edge
    np.testing.assert_array_equal(top[:, :5], img[:, 165:170][:, :, [357, 358, 359, 0, 1, 2]])
    assert np.all(top[:, 5] == 0)


def test_crop_pair_stacks_channels():
    img = event_image(hand_response())
    pair = crop_pair(img, (84, 180), (10, 0), size=32)
    assert pair.shape == (6, 32, 32)
    np.testing.assert_array_equal(pair[:3], crop(img, 84, 180, 32))
    np.testing.assert_array_equal(pair[3:], crop(img, 10, 0, 32))
    assert pair[1, 16, 16] == pytest.approx(30.0)  # the ECAL hit at the first centre
    assert pair[3, 16, 16] == pytest.approx(4.0)  # two tracks at the second centre


@pytest.mark.parametrize("shape", [(3, 170, 359), (170, 360), (1, 3, 170, 360), (3, 34, 72)])
def test_wrong_image_shapes_raise(shape):
    with pytest.raises(ValueError, match=r"170, 360.*" + str(shape).replace("(", r"\(").replace(")", r"\)")):
        crop(np.zeros(shape), 10, 10)
    with pytest.raises(ValueError, match="shape"):
        downsample_image(np.zeros(shape), 2)


def test_bad_crop_arguments_raise():
    img = np.zeros((3, 170, 360))
    with pytest.raises(ValueError, match="ieta"):
        crop(img, 170, 0)
    with pytest.raises(ValueError, match="iphi"):
        crop(img, 0, -1)
    with pytest.raises(ValueError, match="size"):
        crop(img, 0, 0, size=0)
    with pytest.raises(ValueError, match="hcal"):
        event_image(hand_response(), hcal="spread")  # type: ignore[arg-type]


def test_plot_event_image(event_response):
    import matplotlib.pyplot as plt

    for k, from_zero in ((1, False), (5, True)):
        ax = plot_event_image(event_image(event_response, downsample=k), phi_from_zero=from_zero)
        assert "varphi" in ax.get_xlabel() and "eta" in ax.get_ylabel()
        assert ax.get_xlim()[1] - ax.get_xlim()[0] == pytest.approx(2 * np.pi)
        assert len(ax.images) == 3
        plt.close(ax.figure)
    with pytest.raises(ValueError, match="shape"):
        plot_event_image(np.zeros((3, 100, 100)))


def test_empty_response_gives_empty_image():
    resp = simulate(np.zeros(0, dtype=PARTICLE_DTYPE), np.random.default_rng(0))
    img = event_image(resp)
    assert img.shape == images.IMAGE_SHAPE and not img.any()


# --------------------------------------------------------------------------------------------
# Sparse images: storage form and many events at once
# --------------------------------------------------------------------------------------------


def reference_image(response: DetectorResponse, hcal: str = "copy") -> np.ndarray:
    """The image written the plain way: np.add.at into dense float64 grids, then float32."""
    img = np.zeros((3, 170, 360))
    np.add.at(img[0], (response.track_ieta, response.track_iphi), response.track_pt)
    np.add.at(img[1], (response.ecal_ieta, response.ecal_iphi), response.ecal_energy)
    towers = np.zeros((34, 72))
    np.add.at(towers, (response.hcal_ieta, response.hcal_iphi), response.hcal_energy)
    if hcal == "share":
        towers = towers / 25
    img[2] = np.kron(towers, np.ones((5, 5)))
    return img.astype(np.float32)


@pytest.fixture(scope="module")
def many_responses() -> list[DetectorResponse]:
    rng = np.random.default_rng(1)
    out = [simulate(p, rng) for p in generate("gj", 12, seed=9, mpi=True, prefilter=True)]
    out += [simulate(p, rng) for p in generate("h", 12, seed=9, mpi=False)]
    empty = simulate(np.zeros(0, dtype=PARTICLE_DTYPE), rng)
    return out[:5] + [empty, hand_response()] + out[5:]


def test_sparse_round_trip_is_exact(event_response):
    image = event_image(event_response)
    image[2, 169, 359] = -1.5e-3  # a negative value at the very last pixel
    idx, val = images.sparse_image(image)
    assert idx.dtype == np.int32 and val.dtype == np.float32
    assert len(idx) == np.count_nonzero(image) < image.size // 50  # images are mostly empty
    back = images.dense_image(idx, val)
    assert back.dtype == np.float32 and back.shape == images.IMAGE_SHAPE
    assert np.array_equal(back, image)
    with pytest.raises(ValueError, match="shape"):
        images.sparse_image(image[:, :10])


@pytest.mark.parametrize("hcal", ["copy", "share"])
def test_sparse_images_equal_the_plain_dense_images(many_responses, hcal):
    sparse = images.sparse_images(many_responses, hcal=hcal)
    assert len(sparse) == len(many_responses)
    assert sparse.indices.dtype == np.int32 and sparse.values.dtype == np.float32
    for k, response in enumerate(many_responses):
        ref = reference_image(response, hcal)
        idx, val = sparse.event(k)
        assert np.all(np.diff(idx) > 0)  # increasing within the event
        assert np.array_equal(idx, np.flatnonzero(ref))  # exactly the non-zero pixels
        assert np.array_equal(val, ref.reshape(-1)[idx])
        assert np.array_equal(event_image(response, hcal=hcal), ref)


def test_sparse_images_do_not_depend_on_the_batch(many_responses):
    whole = images.sparse_images(many_responses)
    for k in (0, 5, 6, len(many_responses) - 1):
        alone = images.sparse_images([many_responses[k]])
        assert all(np.array_equal(a, b) for a, b in zip(whole.event(k), alone.event(0)))
    empty = images.sparse_images([])
    assert len(empty) == 0 and empty.indices.size == 0


def test_sparse_images_bad_input():
    with pytest.raises(ValueError, match=r"responses\[1\] must be a DetectorResponse"):
        images.sparse_images([hand_response(), "not a response"])
    with pytest.raises(ValueError, match="hcal"):
        images.sparse_images([hand_response()], hcal="spread")
    idx, val = np.array([3, 7], dtype=np.int32), np.ones(2, dtype=np.float32)
    with pytest.raises(ValueError, match="offsets must rise"):
        images.SparseImages(idx, val, np.array([0, 3]))
    with pytest.raises(ValueError, match="equal length"):
        images.SparseImages(idx, val[:1], np.array([0, 2]))
    with pytest.raises(ValueError, match=r"indices must lie in \[0, 183600\)"):
        images.SparseImages(np.array([3, 183600]), val, np.array([0, 2]))


@pytest.mark.parametrize("k", [1, 2, 5, 10])
def test_downsampled_straight_from_sparse_pixels(event_response, k):
    image = event_image(event_response)
    idx, val = images.sparse_image(image)
    fast = images.dense_image_downsampled(idx, val, k)
    assert fast.dtype == np.float32
    np.testing.assert_allclose(fast, downsample_image(image.astype(np.float64), k), rtol=1e-6, atol=1e-6)
