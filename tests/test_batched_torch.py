"""MLPs trained many at once forecast as the same MLPs trained one at a time."""

from __future__ import annotations

import numpy as np
import pytest

from recursive_training.base import InsufficientDataError
from recursive_training.retrodiction.batched_torch import fit_mlps
from recursive_training.retrodiction.torch_models import MLPForecaster


def training_series(count: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    lengths = rng.choice([80, 120], size=count)  # two lengths: each trained as its own group
    return [10 * rng.random() + np.sin(np.arange(n) / rng.uniform(2, 9)) + rng.normal(0, 0.2, n).cumsum() * 0.1
            for n in lengths]


def test_batched_training_forecasts_as_separate_training():
    series = training_series(8)
    settings = [dict(lags=6, hidden_size=8, epochs=60, learning_rate=rate, seed=seed)
                for rate, seed in [(0.01, 0), (0.003, 1), (0.01, 2), (0.03, 3)] * 2]
    alone = [MLPForecaster(**options).fit(y) for options, y in zip(settings, series, strict=True)]
    together = fit_mlps([MLPForecaster(**options) for options in settings], series)
    for one, many, y in zip(alone, together, series, strict=True):
        origins = np.arange(one.lags - 1, len(y))
        expected = one.predict(y, origins, 5)
        np.testing.assert_allclose(many.predict(y, origins, 5), expected, rtol=1e-4, atol=1e-4 * np.abs(y).max())
        assert (many.mean, many.std) == (one.mean, one.std)
    # the training was real: a model of another seed forecasts differently
    assert not np.allclose(together[0].predict(series[0], np.array([50]), 3),
                           together[2].with_state(together[2].state()).predict(series[0], np.array([50]), 3))


def test_in_float64_batched_training_is_separate_training_to_rounding():
    """The same mathematics: float32's 1e-4 is only the different order of sums, amplified by training."""
    import torch

    series = [y[:80] for y in training_series(6, seed=4) if len(y) >= 80]
    settings = [dict(lags=6, hidden_size=8, epochs=150, learning_rate=rate, seed=seed)
                for rate, seed in zip([0.01, 0.003, 0.03, 0.01, 0.01, 0.02], range(6))][:len(series)]

    def in_float64(options: dict) -> MLPForecaster:
        model = MLPForecaster(**options)
        model.dtype = torch.float64
        return model

    alone = [in_float64(options).fit(y) for options, y in zip(settings, series, strict=True)]
    together = fit_mlps([in_float64(options) for options in settings], series)
    for one, many, y in zip(alone, together, series, strict=True):
        origins = np.arange(one.lags - 1, len(y))
        np.testing.assert_allclose(many.predict(y, origins, 5), one.predict(y, origins, 5), rtol=1e-10)


def test_shapes_are_trained_apart_and_the_order_is_kept():
    series = training_series(4, seed=1)
    settings = [dict(lags=4, hidden_size=8, epochs=20, learning_rate=0.01, seed=0),
                dict(lags=6, hidden_size=4, epochs=20, learning_rate=0.01, seed=0),
                dict(lags=4, hidden_size=8, epochs=30, learning_rate=0.01, seed=0),
                dict(lags=4, hidden_size=8, epochs=20, learning_rate=0.01, seed=5)]
    together = fit_mlps([MLPForecaster(**options) for options in settings], series)
    for options, model, y in zip(settings, together, series, strict=True):
        alone = MLPForecaster(**options).fit(y)
        assert model.lags == options["lags"] and model.hidden_size == options["hidden_size"]
        np.testing.assert_allclose(model.predict(y, np.array([len(y) - 1]), 3),
                                   alone.predict(y, np.array([len(y) - 1]), 3), rtol=1e-4)


def test_too_short_a_series_is_refused_before_any_training():
    with pytest.raises(InsufficientDataError, match="needs 14 observations, got 10"):
        fit_mlps([MLPForecaster(lags=6, hidden_size=4, epochs=5, learning_rate=0.01, seed=0)], [np.ones(10)])



def test_a_models_numbers_do_not_depend_on_the_others_in_its_group():
    """So a batch of other variables, or another worker count, gives the same trust, bit for bit."""
    series = [y[:100] for y in training_series(6, seed=3) if len(y) >= 100]
    options = dict(lags=8, hidden_size=16, epochs=40, learning_rate=0.01, seed=1)
    alone = fit_mlps([MLPForecaster(**options)], series[:1])[0]
    grouped = fit_mlps([MLPForecaster(**options) for _ in series], series)[0]
    origins = np.arange(10, 100)
    np.testing.assert_array_equal(grouped.predict(series[0], origins, 4), alone.predict(series[0], origins, 4))


def test_models_that_differ_only_in_epochs_share_one_training():
    """A grid over epochs costs its longest point: the shorter ones take the weights the training passed
    through, bit for bit what they get trained on their own."""
    from torch.profiler import ProfilerActivity, profile

    y = training_series(1, seed=2)[0]
    epochs = [10, 25, 40]
    separately = [fit_mlps([MLPForecaster(lags=5, hidden_size=6, epochs=n, learning_rate=0.02, seed=3)], [y])[0]
                  for n in epochs]
    with profile(activities=[ProfilerActivity.CPU]) as recorded:
        shared = fit_mlps([MLPForecaster(lags=5, hidden_size=6, epochs=n, learning_rate=0.02, seed=3)
                           for n in epochs], [y] * len(epochs))
    forward_products = sum(event.count for event in recorded.key_averages() if event.key == "aten::baddbmm")
    assert forward_products == 3 * max(epochs)  # three layers a step, one training (it was 3 x 75 apart)
    origins = np.arange(20, len(y))
    for alone, together in zip(separately, shared, strict=True):
        np.testing.assert_array_equal(together.predict(y, origins, 4), alone.predict(y, origins, 4))
    # and the epochs mattered: each model stopped where its own training would have
    assert not np.allclose(shared[0].predict(y, origins, 4), shared[2].predict(y, origins, 4))


def test_a_large_group_trains_in_cache_sized_runs_with_the_same_numbers(monkeypatch):
    """Past a core's cache the time per model grew with the group, so a group trains in runs of at most
    TOGETHER_BYTES of activations; a training's epoch variants stay in one run, and every model's weights
    are bit for bit those of one run for all."""
    import torch

    from recursive_training.retrodiction import batched_torch

    series = [y[:80] for y in training_series(12, seed=6)] + [training_series(1, seed=7)[0][:80]] * 2
    options = ([dict(lags=6, hidden_size=8, epochs=15, learning_rate=0.01, seed=seed) for seed in range(12)]
               + [dict(lags=6, hidden_size=8, epochs=epochs, learning_rate=0.01, seed=99) for epochs in (10, 15)])

    def weights(limit: int) -> tuple[list[torch.Tensor], list[int]]:
        monkeypatch.setattr(batched_torch, "TOGETHER_BYTES", limit)
        runs = []
        real = batched_torch._fit_together

        def counted(models, series, training_of):
            runs.append(len(models))
            real(models, series, training_of)

        monkeypatch.setattr(batched_torch, "_fit_together", counted)
        fitted = fit_mlps([MLPForecaster(**o) for o in options], series)
        return [torch.cat([t.reshape(-1) for layer in m.layers for t in layer]) for m in fitted], runs

    one_run, runs = weights(10**9)
    assert runs == [14]
    per_training = (80 - 6) * 8 * 4  # training rows x hidden units x float32
    in_runs, runs = weights(5 * per_training)  # 13 trainings (the last of two models): runs of 5, 5, 3
    assert runs == [5, 5, 4]
    assert all(torch.equal(a, b) for a, b in zip(one_run, in_runs, strict=True))


@pytest.mark.parametrize("lags, hidden, seed", [(6, 8, 0), (14, 32, 7), (1, 3, 123)])
def test_initial_layers_are_the_networks_own_first_weights(lags, hidden, seed):
    """Training many at once draws each model's first weights without building its network: they must be
    bit for bit those the network gets from the same seed, or together would not be separate training."""
    import torch

    model = MLPForecaster(lags=lags, hidden_size=hidden, epochs=1, learning_rate=0.01, seed=seed)
    torch.manual_seed(seed)
    net = model._build()
    torch.manual_seed(seed)
    drawn = model.initial_layers()
    for (weight, bias), i in zip(drawn, (0, 2, 4), strict=True):
        assert torch.equal(weight, net[i].weight.detach()) and torch.equal(bias, net[i].bias.detach())
