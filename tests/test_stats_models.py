"""ETS, ARIMA, Theta and CES through statsforecast: the engine's forecasts are statsforecast's own."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recursive_training.base import ConfigError, ModelError
from recursive_training.retrodiction import RetrodictionSettings, parse_model_specs, retrodict_window

FAMILIES = {"ets": "AutoETS", "arima": "AutoARIMA", "theta": "AutoTheta", "ces": "AutoCES"}
ALIASES = {"ces": "CES"}  # statsforecast's column for AutoCES


def seasonal_series(n: int = 84, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    timestamps = np.datetime64("2021-01-01") + np.arange(n) * np.timedelta64(1, "D")
    values = 30 + 5 * np.sin(2 * np.pi * np.arange(n) / 7) + np.cumsum(rng.normal(0, 0.5, n))
    return timestamps.astype("datetime64[ns]"), values


@pytest.mark.parametrize("family", FAMILIES)
def test_refit_at_every_origin_equals_statsforecasts_cross_validation(family):
    """statsforecast refits at every cutoff; so does the engine with refit_every = 1, after the window's
    first origin (forecast by the fit made before the window, as for every model)."""
    from statsforecast import StatsForecast, models

    timestamps, values = seasonal_series()
    horizon, windows = 3, 4
    season = 1 if family == "arima" else 7  # a seasonal AutoARIMA search takes about a second per fit
    first = len(values) - horizon - windows  # the first cutoff: origins first .. first + windows - 1
    ours = retrodict_window(timestamps, values, timestamps[first], timestamps[first + windows - 1] + 1,
                            f"{family}(season_length={season})",
                            RetrodictionSettings(horizon=horizon, lookback=10_000, refit_every=1))
    frame = pd.DataFrame({"unique_id": "s", "ds": pd.to_datetime(timestamps), "y": values})
    model = getattr(models, FAMILIES[family])(season_length=season)
    theirs = StatsForecast(models=[model], freq="D").cross_validation(df=frame, h=horizon, step_size=1,
                                                                      n_windows=windows)
    expected = theirs[ALIASES.get(family, FAMILIES[family])].to_numpy().reshape(windows, horizon)
    assert list(ours.origins) == list(pd.to_datetime(theirs.cutoff.unique()).to_numpy())
    np.testing.assert_allclose(ours.forecasts[1:], expected[1:], rtol=1e-6, atol=1e-6)


def test_a_model_forecasts_by_running_its_fit_forward_without_estimating_again():
    from statsforecast.models import AutoETS

    timestamps, values = seasonal_series()
    model = parse_model_specs(["ets(season_length=7)"])[0].build().fit(values[10:60])
    reference = AutoETS(season_length=7).fit(values[10:60])
    origins = np.array([59, 65, 70])
    expected = np.stack([reference.forward(values[10:o + 1], 4)["mean"] for o in origins])
    np.testing.assert_array_equal(model.predict(values, origins, 4), expected)
    with pytest.raises(ModelError, match="does not hold the span"):
        model.predict(values * 2, origins, 4)


def test_the_registry_state_refits_to_the_same_forecasts():
    timestamps, values = seasonal_series()
    spec = parse_model_specs(["theta(season_length=7)"])[0]
    fitted = spec.build().fit(values[:60])
    again = spec.build().with_state(fitted.state())
    np.testing.assert_array_equal(again.predict(values, np.array([62, 70]), 5),
                                  fitted.predict(values, np.array([62, 70]), 5))
    with pytest.raises(ModelError, match="finite training span"):
        spec.build().with_state({"coef": np.ones(3)})


@pytest.mark.parametrize("text, message", [("ets(model='XYZ')", "three letters"), ("ces(model='Q')", "one of"),
                                           ("arima(season_length=0)", "season_length"),
                                           ("theta(order=3)", "no parameter 'order'")])
def test_bad_parameters_are_one_line(text, message):
    with pytest.raises(ConfigError, match=message):
        parse_model_specs([text])
