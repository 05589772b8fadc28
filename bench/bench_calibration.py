"""Do the 95% trust intervals cover the true success rate 95% of the time?

Simulates monthly series y = 10 + 2 sin(2πt/12) + x, with x an AR(1) of
coefficient φ (four values, a quarter of the series each), runs the real
pipeline on them (ingest, the coordinator in-process, the trust database)
with naive, seasonal_naive (m = 12, so h = 1 and 7 are h ≤ m and h = 13 is
h > m) and ar at horizons 1, 7 and 13, and counts how often each series'
interval contains the true long-run success rate. The true rate of each
(φ, model, horizon) comes from Monte Carlo: the same procedure on long
independent paths. Printed beside it: the coverage of the old interval,
which took every (origin, step) point as an independent trial.
"""

from __future__ import annotations

import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.signal import lfilter
from scipy.stats import beta as beta_distribution

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import arguments, info, report  # noqa: E402
from recursive_training import ParallelTrainingCoordinator, TrainingConfig  # noqa: E402
from recursive_training.data import RecursiveDataStore  # noqa: E402
from recursive_training.retrodiction import RetrodictionSettings, WindowGrid, retrodict_window  # noqa: E402

PHIS = (0.3, 0.6, 0.8, 0.9)
MODELS = ("naive", "seasonal_naive(season_length=12)", "ar(order=3)")
HORIZONS = (1, 7, 13)
LOOKBACK = 24
GRID = WindowGrid(period="year")
COVERAGE_RANGE = (0.90, 0.98)


@dataclass(frozen=True)
class Size:
    series_per_phi: int
    years: int
    truth_paths: int
    truth_years: int


FULL = Size(series_per_phi=50, years=25, truth_paths=6, truth_years=150)  # 10,800 truth origins each
TINY = Size(series_per_phi=3, years=12, truth_paths=1, truth_years=40)


def simulate(phi: float, months: int, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(months + 200)
    x = lfilter([1.0], [1.0, -phi], rng.normal(0, 1, len(t)))
    return (10 + 2 * np.sin(2 * np.pi * t / 12) + x)[200:]  # the first 200 months let the AR(1) settle


def monthly(start: str, months: int) -> pd.DatetimeIndex:
    return pd.date_range(start, periods=months, freq="MS")


def true_rates(phi: float, size: Size, seed: int, models: tuple[str, ...] = MODELS,
               horizons: tuple[int, ...] = HORIZONS) -> dict[tuple[str, int], tuple[float, float]]:
    """(model, horizon) -> (rate over the points that count, rate over every point), from long paths."""
    rng = np.random.default_rng(seed)
    tallies: dict[tuple[str, int], np.ndarray] = {}
    for _ in range(size.truth_paths):
        months = 12 * size.truth_years
        ts = monthly("1850-01-01", months).to_numpy()
        y = simulate(phi, months, rng)
        windows = GRID.windows(pd.Timestamp(ts[LOOKBACK]), pd.Timestamp(ts[-1]))
        for h in horizons:
            settings = RetrodictionSettings(models=models, horizon=h, lookback=LOOKBACK)
            for spec in settings.models:
                tally = tallies.setdefault((spec.id, h), np.zeros(4))
                for previous, window in zip(windows, windows[1:]):
                    try:
                        forecast = retrodict_window(ts, y, window.start.to_datetime64(), window.end.to_datetime64(),
                                                    spec, settings, previous_window_start=previous.start.to_datetime64())
                    except Exception:  # a window without full targets at the end of a path
                        continue
                    hits = forecast.successes(settings.tolerance)
                    tally += [hits[forecast.counted].sum(), forecast.counted.sum(), hits.sum(), hits.size]
    return {key: (t[0] / t[1], t[2] / t[3]) for key, t in tallies.items()}


def run_pipeline(root: Path, size: Size, seed: int, phis: tuple[float, ...] = PHIS, models: tuple[str, ...] = MODELS,
                 horizons: tuple[int, ...] = HORIZONS) -> tuple[dict, dict]:
    """Trust estimates per (variable, spec, horizon) from the real pipeline, and each variable's φ."""
    rng = np.random.default_rng(seed)
    months = 12 * size.years
    frame = {"timestamp": monthly("1990-01-01", months)}
    phi_of = {}
    for phi in phis:
        for i in range(size.series_per_phi):
            name = f"phi{phi}_{i:03d}"
            frame[name] = simulate(phi, months, rng)
            phi_of[name] = phi
    store = RecursiveDataStore(root / "store", create=True)
    store.ingest(pd.DataFrame(frame))
    estimates = {}
    first_full_window = pd.Timestamp(frame["timestamp"][LOOKBACK])  # as in true_rates: every fit sees LOOKBACK points
    for h in horizons:
        config = TrainingConfig.from_mapping({
            "store_path": root / "store", "start": first_full_window, "models": list(models), "horizon": h,
            "lookback": LOOKBACK,
            "window_period": "year", "workers": 0, "output_dir": root / "runs", "run_id": f"h{h}",
        })
        coordinator = ParallelTrainingCoordinator(config)
        coordinator.start_training()
        for estimate in coordinator.trust:
            estimates[(estimate.variable, estimate.spec, h)] = estimate
    return estimates, phi_of


def independent_interval(estimate) -> tuple[float, float]:
    """The old interval: Beta(1 + s, 1 + f) over every (origin, step) point, as if independent."""
    s = sum(step.successes for step in estimate.steps)
    f = sum(step.failures for step in estimate.steps)
    low, high = beta_distribution.ppf([0.025, 0.975], 1 + s, 1 + f)
    return float(low), float(high)


def coverage_table(estimates: dict, phi_of: dict, truth: dict) -> dict[tuple[str, int], tuple[float, float, float]]:
    """(spec, horizon) -> (coverage now, coverage of the independent-points interval, median design effect)."""
    table = {}
    for spec in {key[1] for key in estimates}:
        for h in sorted({key[2] for key in estimates}):
            now, old, effects = [], [], []
            for (variable, s, horizon), estimate in estimates.items():
                if s != spec or horizon != h:
                    continue
                counted_rate, every_point_rate = truth[phi_of[variable]][(spec, h)]
                now.append(estimate.low <= counted_rate <= estimate.high)
                low, high = independent_interval(estimate)
                old.append(low <= every_point_rate <= high)
                effects.append(estimate.design_effect)
            table[(spec, h)] = (float(np.mean(now)), float(np.mean(old)), float(np.median(effects)))
    return table


def main() -> int:
    args = arguments(__doc__.splitlines()[0])
    size = TINY if args.tiny else FULL
    truth = {phi: true_rates(phi, size, seed=100 + i) for i, phi in enumerate(PHIS)}
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        estimates, phi_of = run_pipeline(Path(tmp), size, seed=7)
    table = coverage_table(estimates, phi_of, truth)
    info(f"{len(phi_of)} simulated monthly series of {size.years} years (AR(1) phi in {PHIS} + a yearly season), "
         f"yearly windows, lookback {LOOKBACK}; true rates from {size.truth_paths} paths of {size.truth_years} "
         "years per phi")
    ok = True
    lo, hi = COVERAGE_RANGE
    for (spec, h), (now, old, effect) in sorted(table.items(), key=lambda item: (MODELS.index(item[0][0]),
                                                                                 item[0][1])):
        kind = ""
        if spec.startswith("seasonal_naive"):
            kind = " (h <= m)" if h <= 12 else " (h > m)"
        ok &= report(f"95% coverage {spec.split('(')[0]} h={h}{kind}", now, lo, higher_is_better=True, unit="",
                     detail=f"independent points: {old:.3f}; median design effect {effect:.1f}",
                     upper=hi)
    return 0 if ok or args.tiny else 1


if __name__ == "__main__":
    sys.exit(main())
