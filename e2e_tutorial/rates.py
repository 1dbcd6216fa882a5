"""How rare the signal is: expected event counts from cross-sections (chapter 1, seminar section 1).

Quantities carry :mod:`hepunits` units (base units mm, ns, MeV): write a cross-section as
``19.3 * pb`` and an integrated luminosity as ``19.7 / fb``; their product is a plain number.
The constants below are approximate published values; each comment names its source.
"""

from __future__ import annotations

import numpy as np
from hepunits import fb, mb, pb

__all__ = [
    "GGF_HIGGS_XS_8TEV",
    "BR_H_TO_GAMMA_GAMMA",
    "LUMI_CMS_2012",
    "INELASTIC_PP_XS_8TEV",
    "expected_events",
]

#: Gluon-fusion Higgs production cross-section, pp at sqrt(s) = 8 TeV, m_H = 125 GeV:
#: about 19.3 pb (LHC Higgs Cross Section Working Group, CERN-2013-004).
GGF_HIGGS_XS_8TEV: float = 19.3 * pb

#: Branching ratio of a 125 GeV Standard-Model Higgs boson to two photons: about 2.28e-3
#: (LHC Higgs Cross Section Working Group, CERN-2013-004).
BR_H_TO_GAMMA_GAMMA: float = 2.28e-3

#: Integrated luminosity of the 2012 CMS data at 8 TeV used for physics analyses, about 19.7 fb^-1
#: (CMS, Eur. Phys. J. C 74 (2014) 3076, the Run-1 H -> gamma gamma paper).
LUMI_CMS_2012: float = 19.7 / fb

#: Inelastic proton-proton cross-section at sqrt(s) = 8 TeV: about 74.7 mb
#: (TOTEM, Phys. Rev. Lett. 111 (2013) 012001).
INELASTIC_PP_XS_8TEV: float = 74.7 * mb


def expected_events(
    cross_section: float | np.ndarray,
    luminosity: float | np.ndarray,
    branching_ratio: float | np.ndarray = 1.0,
) -> float | np.ndarray:
    """Expected number of events, N = sigma * L * BR.

    Parameters
    ----------
    cross_section
        Production cross-section in hepunits area units (e.g. ``19.3 * pb``), >= 0.
    luminosity
        Integrated luminosity in hepunits inverse-area units (e.g. ``19.7 / fb``), >= 0.
    branching_ratio
        Fraction of produced particles that decay to the final state looked for, in [0, 1].

    Returns
    -------
    The expected count (dimensionless); a float for scalar inputs, else an array
    broadcast from the inputs.
    """
    xs = np.asarray(cross_section, dtype=float)
    lumi = np.asarray(luminosity, dtype=float)
    br = np.asarray(branching_ratio, dtype=float)
    if np.any(xs < 0) or np.any(~np.isfinite(xs)):
        raise ValueError(f"cross_section must be finite and >= 0; got {cross_section!r}")
    if np.any(lumi < 0) or np.any(~np.isfinite(lumi)):
        raise ValueError(f"luminosity must be finite and >= 0; got {luminosity!r}")
    if np.any(br < 0) or np.any(br > 1) or np.any(~np.isfinite(br)):
        raise ValueError(f"branching_ratio must lie in [0, 1]; got {branching_ratio!r}")
    n = xs * lumi * br
    return float(n) if n.ndim == 0 else n
