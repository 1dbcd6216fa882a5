"""Measurements behind benchmarks/gamma_jet_filter.md: generation speed and the pre-filter.

    .venv/bin/python benchmarks/bench_gamma_jet_filter.py speed          # events/s, MPI on/off
    .venv/bin/python benchmarks/bench_gamma_jet_filter.py scan gj off 100000
    .venv/bin/python benchmarks/bench_gamma_jet_filter.py scan gj on 40000
    .venv/bin/python benchmarks/bench_gamma_jet_filter.py scan h on 4000    # likewise gg, off
    .venv/bin/python benchmarks/bench_gamma_jet_filter.py filtered      # generate(prefilter=True)
    .venv/bin/python benchmarks/bench_gamma_jet_filter.py sigma         # cross sections, veto
    .venv/bin/python benchmarks/bench_gamma_jet_filter.py ue            # what MPI adds near photons
    .venv/bin/python benchmarks/bench_gamma_jet_filter.py reco gj off 24000 none   # with the
    .venv/bin/python benchmarks/bench_gamma_jet_filter.py reco gj off 6000 prefilter # course's
    (likewise gj on 8000 / 2000, gg off 6000, h off 2000)                          # reconstruction

``scan`` generates unfiltered events on 2 processes (seeds 101, 102), evaluates on each the
truth-level selection, the hard-process cut and the EM filter (with variants) and prints the
efficiencies; per-event results go to $E2E_BENCH_DIR/scan_<process>_<on|off>.npz (default
~/.cache/e2e_bench), which ``report <process> <on|off>`` prints again.
Numbers are for one core unless said otherwise; run on the 2-core reference machine.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import sys
import time
from pathlib import Path

import numpy as np
import pythia8mc

from e2e_tutorial import generation as g

OUT_DIR = Path(os.environ.get("E2E_BENCH_DIR", Path.home() / ".cache" / "e2e_bench"))


def speed(n_on: int = 600, n_off: int = 3000) -> dict:
    """Events/s on one core: Pythia alone, and generate() (Pythia + conversion to arrays)."""
    out = {}
    for name in g.PROCESSES:
        for mpi in (True, False):
            n = n_on if mpi else n_off
            pythia = pythia8mc.Pythia("", False)
            for s in [*g._common_settings(7, mpi), *g.PROCESSES[name].settings]:
                pythia.readString(s)
            pythia.init()
            t0 = time.perf_counter()
            for _ in range(n):
                pythia.next()
            bare = n / (time.perf_counter() - t0)
            gen = g.generate(name, n + 20, 7, mpi=mpi)
            for _ in range(20):  # warm the particle-data cache, skip init
                next(gen)
            t0 = time.perf_counter()
            n_part = 0
            for _ in range(n):
                n_part += len(next(gen))
            full = n / (time.perf_counter() - t0)
            key = f"{name} mpi={'on' if mpi else 'off'}"
            out[key] = {"pythia_ev_s": bare, "generate_ev_s": full, "final_particles": n_part / n}
            print(f"{key:14s} Pythia {bare:7.0f} ev/s   generate() {full:7.0f} ev/s   "
                  f"{n_part / n:5.0f} final-state particles/event", flush=True)
    return out


def _pair_pass(objs: np.ndarray, pt_min: float, eta_max: float, mass_min: float) -> bool:
    pt, eta, _ = g._pt_eta_phi(objs[:, 0], objs[:, 1], objs[:, 2])
    objs = objs[(pt > pt_min) & (np.abs(eta) < eta_max)]
    if len(objs) < 2:
        return False
    m = g._mass(objs[:, None, :] + objs[None, :, :])
    return bool(np.any(np.triu(m > mass_min, k=1)))


# Object definitions for the filter (see em_objects): (include_hadrons, cone)
OBJECT_KINDS = {"em": (False, 0.1), "em_c05": (False, 0.05), "all": (True, 0.1),
                "all_c05": (True, 0.05)}

FILTER_VARIANTS = {
    # name: (object kind, pt_min, eta_max, mass_min)
    "default": ("all", g.EM_PT_MIN, g.EM_ETA_MAX, g.EM_MASS_MIN),
    "pt18": ("all", 18.0, g.EM_ETA_MAX, g.EM_MASS_MIN),
    "pt12": ("all", 12.0, g.EM_ETA_MAX, g.EM_MASS_MIN),
    "cone0.05": ("all_c05", g.EM_PT_MIN, g.EM_ETA_MAX, g.EM_MASS_MIN),
    "eta1.48": ("all", g.EM_PT_MIN, 1.48, g.EM_MASS_MIN),
    "mass85": ("all", g.EM_PT_MIN, g.EM_ETA_MAX, 85.0),
    "EMonly": ("em", g.EM_PT_MIN, g.EM_ETA_MAX, g.EM_MASS_MIN),
    "EMonly_pt18": ("em", 18.0, g.EM_ETA_MAX, g.EM_MASS_MIN),
    "EMonly_c05": ("em_c05", g.EM_PT_MIN, g.EM_ETA_MAX, g.EM_MASS_MIN),
}


def _objects(parts: np.ndarray, kind: str) -> np.ndarray:
    hadrons, cone = OBJECT_KINDS[kind]
    return g.em_objects(parts, include_hadrons=hadrons, cone=cone)


def _sel_any_seed(parts: np.ndarray) -> bool:
    """Most pessimistic truth selection: all visible particles, seeds of any kind."""
    vis = ~np.isin(np.abs(parts["pdg_id"]), g._NOT_SEEN)
    cl = g._clusters(parts, vis, vis, 1.0, half_width=2.5 * g._CRYSTAL)
    pt, eta, _ = g._pt_eta_phi(cl[:, 0], cl[:, 1], cl[:, 2])
    good = (pt > 20.0) & (np.abs(eta) < 1.44)
    if good.sum() != 2:
        return False
    pts = np.sort(pt[good])[::-1]
    m = float(g._mass(cl[good].sum(axis=0)))
    return m > 90.0 and pts[0] > m / 3.0 and pts[1] > m / 4.0


SELECTIONS = ("sel_em", "sel_had", "sel_any")


def _scan_worker(args: tuple[str, bool, int, int]) -> dict:
    name, mpi, n, seed = args
    rec: dict[str, list] = {k: [] for k in
                            ["pt_hat", "m_hat", "hard_eta_max", *SELECTIONS, "t_event"]}
    for k in FILTER_VARIANTS:
        rec["f_" + k] = []
    t_last = time.perf_counter()
    t_filter = 0.0
    for parts, truth in g.generate_with_truth(name, n, seed, mpi=mpi):
        now = time.perf_counter()
        rec["t_event"].append(now - t_last)
        hard = truth.hard_process
        _, eta, _ = g._pt_eta_phi(hard["px"], hard["py"], hard["pz"])
        rec["pt_hat"].append(truth.pt_hat)
        rec["m_hat"].append(truth.m_hat)
        rec["hard_eta_max"].append(float(np.max(np.abs(eta))))
        rec["sel_em"].append(g.truth_selection(parts))
        rec["sel_had"].append(g.truth_selection(parts, include_hadrons=True))
        rec["sel_any"].append(_sel_any_seed(parts))
        t1 = time.perf_counter()
        g.em_enriched(parts)
        t_filter += time.perf_counter() - t1
        objs = {kind: _objects(parts, kind) for kind in OBJECT_KINDS}
        for k, (kind, pt_min, eta_max, mass_min) in FILTER_VARIANTS.items():
            rec["f_" + k].append(_pair_pass(objs[kind], pt_min, eta_max, mass_min))
        t_last = time.perf_counter()
    out = {k: np.asarray(v) for k, v in rec.items()}
    out["t_filter_total"] = np.asarray(t_filter)
    return out


def _frac(num: np.ndarray, den: np.ndarray) -> str:
    k, n = int(num.sum()), int(den.sum())
    if n == 0:
        return "n/a (0 events)"
    eff = k / n
    err = np.sqrt(max(eff * (1 - eff), 1.0 / n) / n)  # binomial, with a floor for eff = 0 or 1
    return f"{k}/{n} = {100 * eff:.2f} +- {100 * err:.2f} %"


def scan(name: str, mpi: bool, n_total: int) -> dict:
    t0 = time.perf_counter()
    with multiprocessing.Pool(2) as pool:
        parts = pool.map(_scan_worker, [(name, mpi, n_total // 2, s) for s in (101, 102)])
    wall = time.perf_counter() - t0
    r = {k: np.concatenate([p[k] for p in parts]) if parts[0][k].ndim else
         np.asarray(sum(float(p[k]) for p in parts)) for k in parts[0]}
    r["wall"] = np.asarray(wall)
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    np.savez(OUT_DIR / f"scan_{name}_{'on' if mpi else 'off'}.npz", **r)
    report(name, mpi)
    return r


def report(name: str, mpi: bool) -> None:
    r = dict(np.load(OUT_DIR / f"scan_{name}_{'on' if mpi else 'off'}.npz"))
    n = len(r["sel_em"])
    wall = float(r.get("wall", np.nan))
    print(f"\n== scan {name}, MPI {'on' if mpi else 'off'}: {n} events, {wall:.0f} s wall on 2 "
          f"processes; {n / r['t_event'].sum():.0f} ev/s per core (generate + bookkeeping)")
    ones = np.ones(n, bool)
    for k in SELECTIONS:
        print(f"truth selection {k}: {_frac(r[k], ones)}")
    hard_eta = r["hard_eta_max"]
    for cut, mcut in [(1.8, 80), (2.0, 80), (2.2, 80), (2.5, 80), (3.0, 80), (2.5, 90), (2.5, 95)]:
        stage1 = (hard_eta < cut) & (r["m_hat"] > mcut)
        lost = "; ".join(f"{k} {_frac(stage1 & r[k], r[k])}" for k in SELECTIONS)
        print(f"stage 1 |eta_hard| < {cut}, m_hat > {mcut}: keeps {_frac(stage1, ones)};"
              f" of truth-selected: {lost}")
    stage1 = (hard_eta < g.HARD_ETA_MAX) & (r["m_hat"] > g.HARD_MASS_MIN)
    print(f"(below: with stage 1 at |eta_hard| < {g.HARD_ETA_MAX})")
    for k in FILTER_VARIANTS:
        f = r["f_" + k]
        both = f & stage1
        print(f"filter {k:9s}: keeps {_frac(f, ones)}; of truth-selected: "
              + "; ".join(f"{s} {_frac(f & r[s], r[s])}" for s in SELECTIONS))
        print(f"  + stage 1     : keeps {_frac(both, ones)}; of truth-selected: "
              + "; ".join(f"{s} {_frac(both & r[s], r[s])}" for s in SELECTIONS))
    for k in SELECTIONS:
        sel = r[k]
        if sel.any():
            print(f"{k}: max |eta_hard| of selected {float(hard_eta[sel].max()):.2f}; "
                  f"pT-hat quantiles (0, 1, 5, 50 %) "
                  f"{np.round(np.quantile(r['pt_hat'][sel], [0, 0.01, 0.05, 0.5]), 1).tolist()}; "
                  f"m-hat min {float(r['m_hat'][sel].min()):.1f}")
    print(f"em_enriched() cost: {1e3 * float(r['t_filter_total']) / n:.3f} ms/event")


def filtered(n_h: int = 500, n_gg: int = 500, n_gj_on: int = 1500, n_gj_off: int = 5000) -> dict:
    """generate(prefilter=True) on one core: kept events/s, efficiency, cross sections."""
    out = {}
    plan = [("h", True, n_h), ("h", False, n_h), ("gg", True, n_gg), ("gg", False, n_gg),
            ("gj", True, n_gj_on), ("gj", False, n_gj_off)]
    for name, mpi, n in plan:
        t0 = time.perf_counter()
        n_sel = 0
        for parts, truth in g.generate_with_truth(name, n, 11, mpi=mpi, prefilter=True):
            n_sel += g.truth_selection(parts)
        dt = time.perf_counter() - t0
        key = f"{name} mpi={'on' if mpi else 'off'}"
        out[key] = {
            "kept": n, "tried": truth.n_tried, "generated": truth.n_generated,
            "seconds": dt, "kept_per_s": n / dt, "truth_selected": n_sel,
            "selected_per_s": n_sel / dt, "sigma_mb": truth.sigma_mb,
            "sigma_kept_mb": truth.sigma_kept_mb,
        }
        print(f"{key:14s} kept {n} of {truth.n_tried} drawn ({truth.n_generated} fully generated)"
              f": efficiency {100 * truth.filter_efficiency:.3f} %, {n / dt:.2f} kept ev/s, "
              f"{n_sel} truth-selected ({n_sel / dt:.2f}/s), sigma(stage 1) "
              f"{truth.sigma_mb * 1e9:.4g} pb, sigma(kept) {truth.sigma_kept_mb * 1e9:.4g} pb",
              flush=True)
    return out


def sigma_check(n: int = 4000) -> None:
    """Does Pythia's sigmaGen account for the stage-1 veto? Compare, MPI off, the unfiltered
    cross section times the stage-1 fraction with the prefiltered run's sigmaGen."""
    for name in ("gg", "gj"):
        res = {}
        for prefilter in (False, True):
            for _, truth in g.generate_with_truth(name, n, 5, mpi=False, prefilter=prefilter):
                pass
            res[prefilter] = truth
        plain, filt = res[False], res[True]
        stage1 = filt.n_generated / filt.n_tried
        print(f"{name}: sigma without filter {plain.sigma_mb * 1e9:.5g} +- "
              f"{plain.sigma_err_mb * 1e9:.2g} pb; stage-1 fraction {stage1:.4f}; product "
              f"{plain.sigma_mb * stage1 * 1e9:.5g} pb; Pythia's sigmaGen with the veto "
              f"{filt.sigma_mb * 1e9:.5g} +- {filt.sigma_err_mb * 1e9:.2g} pb; kept "
              f"{filt.n_kept}/{filt.n_tried}, sigma_kept {filt.sigma_kept_mb * 1e9:.5g} pb",
              flush=True)


def underlying_event(n: int = 1000) -> None:
    """What MPI adds around the Higgs photons: scalar pT sum of the other visible particles
    within Delta R < 0.3 (isolation cone) and inside the 5 x 5-crystal window."""
    for mpi in (True, False):
        iso, win, nfinal = [], [], []
        for parts, _ in g.generate_with_truth("h", n, 21, mpi=mpi):
            nfinal.append(len(parts))
            pt, eta, phi = g._pt_eta_phi(parts["px"], parts["py"], parts["pz"])
            visible = ~np.isin(np.abs(parts["pdg_id"]), g._NOT_SEEN)
            hard = np.flatnonzero((parts["origin"] == g.ORIGIN_HARD) & (parts["pdg_id"] == 22)
                                  & (pt > 20) & (np.abs(eta) < 1.44))
            for i in hard:
                deta = eta - eta[i]
                dphi = np.remainder(phi - phi[i] + np.pi, 2 * np.pi) - np.pi
                other = visible & (parts["origin"] != g.ORIGIN_HARD)
                iso.append(pt[other & (deta**2 + dphi**2 < 0.09)].sum())
                half = 2.5 * g._CRYSTAL
                win.append(pt[other & (np.abs(deta) < half) & (np.abs(dphi) < half)].sum())
        iso, win = np.array(iso), np.array(win)
        print(f"MPI {'on ' if mpi else 'off'}: {np.mean(nfinal):.0f} final-state particles/event; "
              f"around {len(iso)} Higgs photons: isolation sum (Delta R < 0.3) mean "
              f"{iso.mean():.2f} GeV, median {np.median(iso):.2f}, 90% {np.quantile(iso, 0.9):.2f};"
              f" in the 5x5 window mean {win.mean():.3f} GeV, "
              f"fraction with > 0.5 GeV {np.mean(win > 0.5):.3f}", flush=True)


def _reco_worker(args: tuple[str, bool, int, int, bool]) -> dict:
    # The course's own detector, images and reconstruction (imported here so that the other
    # commands do not depend on them).
    from e2e_tutorial import detector, images, reconstruction

    name, mpi, n, seed, prefilter = args
    rng = np.random.default_rng(seed)
    out = {"kept": 0, "selected": 0, "sel_default": 0, "sel_emonly": 0, "sel_stage1": 0,
           "f_default": 0, "f_emonly": 0, "tried": 0, "generated": 0, "t_down": 0.0}
    t0 = time.perf_counter()
    for parts, truth in g.generate_with_truth(name, n, seed, mpi=mpi, prefilter=prefilter):
        t1 = time.perf_counter()
        image = images.event_image(detector.simulate(parts, rng))
        selected = reconstruction.reconstruct_event(image).pair is not None
        out["t_down"] += time.perf_counter() - t1
        f_def = g.em_enriched(parts)
        f_em = g.em_enriched(parts, include_hadrons=False)
        stage1 = not g.PROCESSES[name].hard_cut or g.passes_hard_process_cut(truth.hard_process)
        out["kept"] += 1
        out["selected"] += selected
        out["f_default"] += f_def
        out["f_emonly"] += f_em
        out["sel_default"] += selected and f_def and stage1
        out["sel_emonly"] += selected and f_em
        out["sel_stage1"] += selected and stage1
    out["seconds"] = time.perf_counter() - t0
    out["tried"], out["generated"] = truth.n_tried, truth.n_generated
    return out


def reco_chain(name: str, mpi: bool, n_total: int, prefilter: bool) -> None:
    """generate -> detector.simulate -> images.event_image -> reconstruction.reconstruct_event
    on 2 processes: selected events per core-second, and (unfiltered runs) how many of the
    selected events the pre-filter would have kept. The extra filter evaluations cost about
    0.5 ms per event."""
    with multiprocessing.Pool(2) as pool:
        parts = pool.map(_reco_worker, [(name, mpi, n_total // 2, s, prefilter) for s in (1, 2)])
    r = {k: sum(p[k] for p in parts) for k in parts[0]}
    sel = r["selected"]
    per_sel = r["seconds"] / max(sel, 1)
    print(f"{name} MPI {'on' if mpi else 'off'} prefilter={prefilter}: {r['kept']} events "
          f"simulated ({r['tried']} hard processes drawn, {r['generated']} generated), "
          f"{sel} selected by the reconstruction; {r['kept'] / r['seconds']:.0f} events/s and "
          f"{sel / r['seconds']:.2f} selected/s per core ({per_sel:.3f} s per selected event); "
          f"detector + image + reconstruction {1e3 * r['t_down'] / r['kept']:.1f} ms/event, "
          f"everything else {1e3 * (r['seconds'] - r['t_down']) / r['kept']:.1f} ms/event")
    if not prefilter:
        print(f"   filter keeps {100 * r['f_default'] / r['kept']:.1f} % (photons and electrons "
              f"only: {100 * r['f_emonly'] / r['kept']:.1f} %); of the selected events it keeps: "
              f"stage 1 {r['sel_stage1']}/{sel}, stage 1 + 2 {r['sel_default']}/{sel}, photons-"
              f"and-electrons-only stage 2 {r['sel_emonly']}/{sel}", flush=True)


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "speed":
        print(json.dumps(speed(), indent=1))
    elif cmd == "scan":
        scan(sys.argv[2], sys.argv[3] == "on", int(sys.argv[4]))
    elif cmd == "report":
        report(sys.argv[2], sys.argv[3] == "on")
    elif cmd == "filtered":
        print(json.dumps(filtered(), indent=1))
    elif cmd == "sigma":
        sigma_check()
    elif cmd == "ue":
        underlying_event()
    elif cmd == "reco":
        reco_chain(sys.argv[2], sys.argv[3] == "on", int(sys.argv[4]), sys.argv[5] == "prefilter")
    else:
        raise SystemExit(__doc__)
