"""Tests of e2e_tutorial.rates: expected event counts (chapter 1)."""

from __future__ import annotations

import numpy as np
import pytest
from hepunits import barn, fb, mb, nb, pb

from e2e_tutorial import rates


def test_units_cancel_to_a_plain_count():
    # 1 pb x 1 pb^-1 is one event; 1 pb x 1 fb^-1 is a thousand (1 pb = 1000 fb).
    assert rates.expected_events(1 * pb, 1 / pb) == pytest.approx(1.0)
    assert rates.expected_events(1 * pb, 1 / fb) == pytest.approx(1000.0)
    assert rates.expected_events(1 * mb, 1 / fb) == pytest.approx(1e12)
    assert rates.expected_events(1 * barn, 1 / nb) == pytest.approx(1e9)


def test_higgs_to_diphoton_count_matches_hand_computation():
    # 19.3 pb = 19 300 fb;  19 300 fb x 19.7 fb^-1 = 380 210;  x 2.28e-3 = 866.8788
    n = rates.expected_events(rates.GGF_HIGGS_XS_8TEV, rates.LUMI_CMS_2012, rates.BR_H_TO_GAMMA_GAMMA)
    assert n == pytest.approx(866.8788, rel=1e-9)
    assert isinstance(n, float)


def test_needle_in_haystack_ratio():
    # 74.7 mb = 7.47e13 fb; x 19.7 fb^-1 = 1.47159e15 inelastic collisions.
    n_pp = rates.expected_events(rates.INELASTIC_PP_XS_8TEV, rates.LUMI_CMS_2012)
    assert n_pp == pytest.approx(1.47159e15, rel=1e-9)
    n_sig = rates.expected_events(rates.GGF_HIGGS_XS_8TEV, rates.LUMI_CMS_2012, rates.BR_H_TO_GAMMA_GAMMA)
    # The luminosity cancels: ratio = sigma_ggH * BR / sigma_inel = 19.3e-9 mb * 2.28e-3 / 74.7 mb
    assert n_sig / n_pp == pytest.approx(19.3e-9 * 2.28e-3 / 74.7, rel=1e-9)
    assert 1e-13 < n_sig / n_pp < 1e-11


def test_arrays_broadcast():
    lumis = np.array([1.0, 10.0, 19.7]) / fb
    n = rates.expected_events(rates.GGF_HIGGS_XS_8TEV, lumis, rates.BR_H_TO_GAMMA_GAMMA)
    assert isinstance(n, np.ndarray) and n.shape == (3,)
    assert n[2] / n[0] == pytest.approx(19.7)


@pytest.mark.parametrize(
    "args, match",
    [
        ((-1 * pb, 1 / fb), "cross_section"),
        ((1 * pb, -1 / fb), "luminosity"),
        ((1 * pb, 1 / fb, 1.5), "branching_ratio"),
        ((1 * pb, 1 / fb, -0.1), "branching_ratio"),
        ((float("nan"), 1 / fb), "cross_section"),
    ],
)
def test_invalid_inputs_raise(args, match):
    with pytest.raises(ValueError, match=match):
        rates.expected_events(*args)
