#!/usr/bin/env python3
"""Baseline backtests against StatsForecast's cross_validation.

200 daily series of 1,000 points; naive and seasonal_naive (m = 7) from 100
origins, horizon 7, step 1, by this project's engine and by statsforecast
(its numerical core is compiled). Forecasts must agree to 1e-9, and this
project must be at least 2x faster.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from common import arguments, info, median_seconds, report, synthetic_frame
from statsforecast import StatsForecast
from statsforecast.models import Naive, SeasonalNaive

from recursive_training.retrodiction import RetrodictionSettings, retrodict_window

HORIZON, ORIGINS = 7, 100


def ours(series: dict[str, tuple[np.ndarray, np.ndarray]], settings: RetrodictionSettings) -> pd.DataFrame:
    """Rolling-origin forecasts for every series and model, in statsforecast's long shape."""
    frames = []
    for name, (ts, y) in series.items():
        first_origin = len(y) - HORIZON - ORIGINS
        start, end = ts[first_origin], ts[len(y) - HORIZON - 1] + np.timedelta64(1, "D")
        columns = {}
        for model in settings.models:
            window = retrodict_window(ts, y, start, end, model, settings)
            columns[model.id] = window.forecasts.ravel()
        origins = np.repeat(window.origins, HORIZON)
        targets = ts[(np.arange(first_origin, first_origin + ORIGINS)[:, None] + np.arange(1, HORIZON + 1)).ravel()]
        frames.append(pd.DataFrame({"unique_id": name, "cutoff": origins, "ds": targets, **columns}))
    return pd.concat(frames, ignore_index=True)


def theirs(long: pd.DataFrame) -> pd.DataFrame:
    sf = StatsForecast(models=[Naive(), SeasonalNaive(season_length=7)], freq="D", n_jobs=1)
    return sf.cross_validation(df=long, h=HORIZON, n_windows=ORIGINS, step_size=1)


def main() -> None:
    args = arguments(__doc__)
    n_series = 10 if args.tiny else 200
    wide = synthetic_frame(n_series, 1000)
    long = wide.melt(id_vars="timestamp", var_name="unique_id", value_name="y").rename(columns={"timestamp": "ds"})
    series = {name: (wide["timestamp"].to_numpy(), wide[name].to_numpy()) for name in wide.columns[1:]}
    settings = RetrodictionSettings(models=("naive", "seasonal_naive"), horizon=HORIZON, season_length=7)

    theirs(long.head(2000))  # warm up statsforecast's compiled code before timing
    repeats = 1 if args.tiny else 5
    mine_seconds, _ = median_seconds(lambda: ours(series, settings), repeats)
    their_seconds, _ = median_seconds(lambda: theirs(long), repeats)

    merged = ours(series, settings).merge(theirs(long), on=["unique_id", "cutoff", "ds"], how="outer")
    complete = len(merged) == n_series * ORIGINS * HORIZON and not merged.isna().any().any()
    worst = max(float(np.max(np.abs(merged["naive"] - merged["Naive"]))),
                float(np.max(np.abs(merged["seasonal_naive"] - merged["SeasonalNaive"]))))
    info(f"{n_series} series x {ORIGINS} origins x h={HORIZON}: this project {mine_seconds * 1e3:.0f} ms, "
         f"statsforecast {their_seconds * 1e3:.0f} ms (median of {repeats}); rows matched: {complete}")
    report("baselines equal statsforecast (max |diff|)", worst if complete else float("inf"), 1e-9,
           higher_is_better=False, unit="")
    report("baselines faster than statsforecast", their_seconds / mine_seconds, 2.0, higher_is_better=True)


if __name__ == "__main__":
    main()
