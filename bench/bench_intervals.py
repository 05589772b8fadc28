"""Do forecast intervals calibrated by retrodiction cover what happens next at their nominal rate?

For each data set: ingest only the data before a cut date, run the real
retrodiction on it (the coordinator in-process, the trust database with its
kept errors; ``refit_every = 1``, so each kept error comes from a model
fitted at its origin, as a forecast's model is), then replay the forecast recipe (``fit_and_forecast``: the
chosen model refitted on its latest lookback, split-conformal intervals from
the errors kept before the cut) from every origin after the cut and count
how often the 80% and 95% intervals hold the value that came. Printed beside
it: a normal-theory interval from the same fitted model, forecast ± z·σ·√(1 +
ψ₁² + … + ψₖ₋₁²), σ the in-sample one-step residual RMS and ψⱼ the model's
response at step j to the last observation (exact for linear models such as
the AR here).

The target pools at least 100 simulated monthly series of three kinds: AR(1)
around a yearly season (Gaussian shocks), the same with Student-t(3) shocks,
and random walks. The bundled sample data (6 daily series) is printed for
information: too few series to pool.
"""

from __future__ import annotations

import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.signal import lfilter
from scipy.stats import norm

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from analytics import OptimizedTrustTracker  # noqa: E402
from bench.common import REPO, arguments, info, report  # noqa: E402
from recursive_training import ParallelTrainingCoordinator, TrainingConfig  # noqa: E402
from recursive_training.data import RecursiveDataStore  # noqa: E402
from recursive_training.forecasting import choose_model  # noqa: E402
from recursive_training.forecasting.tasks import fit_and_forecast  # noqa: E402
from recursive_training.retrodiction import parse_model_specs  # noqa: E402

LEVELS = (0.8, 0.95)
TOLERANCE = 0.03  # coverage within 3 points of nominal


@dataclass(frozen=True)
class Case:
    """One data set: its wide frame, the cut, and the retrodiction that calibrates the intervals."""

    name: str
    frame: pd.DataFrame
    cut: str
    model: str
    horizon: int
    lookback: int | str
    window_period: str
    origin_step: int = 1  # replay the forecast from every n-th origin after the cut


def simulated(n_per_kind: int, years: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    months = 12 * years
    t = np.arange(months + 100)
    columns = {"timestamp": pd.date_range("1990-01-01", periods=months, freq="MS")}
    for i in range(n_per_kind):
        phi = rng.uniform(0.2, 0.9)
        season = 10 + rng.uniform(1, 3) * np.sin(2 * np.pi * t / 12 + rng.uniform(0, 2 * np.pi))
        columns[f"ar_gauss_{i:03d}"] = (season + lfilter([1.0], [1.0, -phi], rng.normal(0, 1, len(t))))[100:]
        columns[f"ar_t3_{i:03d}"] = (season + lfilter([1.0], [1.0, -phi], rng.standard_t(3, len(t))))[100:]
        columns[f"walk_{i:03d}"] = 50 + np.cumsum(rng.normal(0, 1, months))
    return pd.DataFrame(columns)


def retrodict_before_cut(root: Path, case: Case) -> Path:
    """The trust database of a retrodiction that saw only the data before the cut."""
    known = case.frame[case.frame.timestamp < pd.Timestamp(case.cut)]
    RecursiveDataStore(root / "store", create=True).ingest(known)
    lookback_points = case.lookback if isinstance(case.lookback, int) else 0
    config = TrainingConfig.from_mapping({
        "store_path": root / "store", "start": known.timestamp.iloc[max(lookback_points, 1)],
        "end": case.cut, "models": [case.model], "horizon": case.horizon, "lookback": case.lookback,
        "refit_every": 1, "window_period": case.window_period, "workers": 0, "output_dir": root / "runs"})
    ParallelTrainingCoordinator(config).start_training()
    return root / "runs" / "trust.sqlite"


def normal_theory_offsets(model, values: np.ndarray, begin: int, horizon: int) -> np.ndarray:
    """(horizon, levels) half-widths z·σ·√(1 + Σψ²) of the fitted ``model`` trained on ``values[begin:]``."""
    origin = len(values) - 1
    inside = np.arange(begin + model.min_history - 1, origin)
    residuals = model.predict(values, inside, 1)[:, 0] - values[inside + 1]
    sigma = float(np.sqrt(np.mean(residuals ** 2)))
    nudged = values.copy()
    nudged[-1] += 1.0
    psi = model.predict(nudged, np.array([origin]), horizon)[0] - model.predict(values, np.array([origin]), horizon)[0]
    spread = sigma * np.sqrt(np.cumsum(np.concatenate([[1.0], psi[:-1] ** 2])))
    return np.outer(spread, [norm.ppf(0.5 + level / 2) for level in LEVELS])


def coverage(case: Case, trust_db: Path) -> tuple[np.ndarray, np.ndarray, int, int]:
    """Coverage of the conformal and the normal-theory intervals at each level, the variables and the points."""
    cut = int(np.searchsorted(case.frame.timestamp.to_numpy(), pd.Timestamp(case.cut).to_datetime64()))
    spec = parse_model_specs([case.model])[0]
    hits_conformal, hits_normal, points, variables = np.zeros(len(LEVELS)), np.zeros(len(LEVELS)), 0, 0
    with OptimizedTrustTracker(trust_db) as tracker:
        estimates = tracker.estimates()
        for variable in (c for c in case.frame.columns if c != "timestamp"):
            series = case.frame.set_index("timestamp")[variable]
            known = series.iloc[:cut].to_numpy()
            choice = choose_model(variable, estimates, tracker.forecast_errors, horizon=case.horizon,
                                  naive_mae=float(np.mean(np.abs(np.diff(known)))), spec=spec.id)
            if isinstance(choice, str):
                raise SystemExit(f"{case.name}: {choice}")
            variables += 1
            for origin in range(cut - 1, len(series) - case.horizon, case.origin_step):
                history = series.iloc[:origin + 1]
                done = fit_and_forecast(variable, history, choice, case.horizon)
                actual = series.iloc[origin + 1:origin + 1 + case.horizon].to_numpy()
                frame = done.frame
                for j, level in enumerate(LEVELS):
                    tag = f"{round(level * 100)}"
                    hits_conformal[j] += np.sum((frame[f"lo_{tag}"] <= actual) & (actual <= frame[f"hi_{tag}"]))
                begin = len(history) - len(history.loc[done.train_start:])
                half = normal_theory_offsets(done.model, history.to_numpy(dtype=float), begin, case.horizon)
                hits_normal += np.sum(np.abs(actual - frame.forecast.to_numpy())[:, None] <= half, axis=0)
                points += case.horizon
    return hits_conformal / points, hits_normal / points, variables, points


def main() -> int:
    args = arguments(__doc__.splitlines()[0])
    n_per_kind, years = (2, 12) if args.tiny else (40, 30)
    cases = [
        Case("simulated", simulated(n_per_kind, years, seed=11), cut=f"{1990 + years - 5}-01-01",
             model="ar(order=3)", horizon=6, lookback=36, window_period="year"),
        Case("sample", pd.read_csv(REPO / "data" / "sample.csv", parse_dates=["timestamp"]), cut="2023-01-01",
             model="ar(order=7)", horizon=7, lookback="1Y", window_period="month"),
    ][:1 if args.tiny else 2]  # --tiny checks the script runs: the information-only sample case can wait
    for case in cases:
        with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
            trust_db = retrodict_before_cut(Path(tmp), case)
            conformal, normal, variables, points = coverage(case, trust_db)
        info(f"{case.name}: {variables} variables, {case.model}, horizon {case.horizon}, intervals from the "
             f"errors of retrodiction windows before {case.cut}, {points} (origin, step) points after it")
        for j, level in enumerate(LEVELS):
            label = f"{case.name} {round(level * 100)}% interval coverage"
            detail = f"normal theory from residuals: {normal[j]:.3f}"
            if case.name == "simulated":
                report(label, conformal[j], level - TOLERANCE, higher_is_better=True, unit="", detail=detail,
                       upper=level + TOLERANCE)
            else:
                info(f"{label}: {conformal[j]:.3f} (nominal {level}); {detail}")
    return 0  # run_all reads PASS or FAIL from the TARGET lines; an exit code would call the script broken


if __name__ == "__main__":
    sys.exit(main())
