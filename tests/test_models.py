"""Models against independent, straightforward loop implementations."""

from __future__ import annotations

import math

import numpy as np
import pytest

from recursive_training.base import ConfigError, InsufficientDataError
from recursive_training.retrodiction import AutoRegressive, ModelSpec, Naive, SeasonalNaive, parse_model_specs
from recursive_training.retrodiction.batched_torch import fit_mlps
from recursive_training.retrodiction.models import lag_matrix


def loop_naive(y, origin, h):
    return [y[origin] for _ in range(h)]


def loop_seasonal_naive(y, origin, h, m):
    # the value one season before each target, stepping back whole seasons
    out = []
    for k in range(1, h + 1):
        target = origin + k
        while target > origin:
            target -= m
        out.append(y[target])
    return out


def test_naive_matches_loop():
    y = np.random.default_rng(1).normal(size=50)
    origins = np.arange(5, 40, 3)
    got = Naive().predict(y, origins, 6)
    want = [loop_naive(y, o, 6) for o in origins]
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("m,h", [(7, 3), (7, 7), (7, 15), (1, 4), (12, 25)])
def test_seasonal_naive_matches_loop(m, h):
    y = np.random.default_rng(2).normal(size=120)
    origins = np.arange(m + 1, 90)
    got = SeasonalNaive(m).predict(y, origins, h)
    want = [loop_seasonal_naive(y, o, h, m) for o in origins]
    np.testing.assert_array_equal(got, want)


def test_seasonal_naive_by_hand():
    y = np.arange(10.0)  # y[t] = t
    # m = 3, origin t = 5: targets 6,7,8 -> y[3], y[4], y[5]; target 9 -> y[6]? no: 9-3*ceil(4/3)=3 -> y[3]
    np.testing.assert_array_equal(SeasonalNaive(3).predict(y, np.array([5]), 4), [[3, 4, 5, 3]])


def loop_ar_fit(y, p):
    """Normal equations built with plain loops."""
    rows, targets = [], []
    for t in range(p, len(y)):
        rows.append([1.0] + [y[t - i] for i in range(1, p + 1)])
        targets.append(y[t])
    X, z = np.array(rows), np.array(targets)
    return np.linalg.solve(X.T @ X, X.T @ z)


def loop_ar_forecast(coef, history, h):
    p = len(coef) - 1
    buf = list(history)
    for _ in range(h):
        buf.append(coef[0] + sum(coef[i] * buf[-i] for i in range(1, p + 1)))
    return buf[len(history):]


def test_ar_matches_loop_implementation():
    rng = np.random.default_rng(3)
    y = np.zeros(300)
    for t in range(2, 300):
        y[t] = 1.0 + 0.5 * y[t - 1] - 0.2 * y[t - 2] + rng.normal()
    model = AutoRegressive(3).fit(y[:200])
    np.testing.assert_allclose(model.coef, loop_ar_fit(y[:200], 3), rtol=1e-9, atol=1e-12)
    origins = np.array([210, 250, 280])
    got = model.predict(y, origins, 5)
    want = [loop_ar_forecast(model.coef, y[: o + 1], 5) for o in origins]
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_ar_recovers_noise_free_process():
    y = np.zeros(100)
    y[0], y[1] = 1.0, 2.0
    for t in range(2, 100):
        y[t] = 0.3 + 0.6 * y[t - 1] - 0.1 * y[t - 2]
    model = AutoRegressive(2).fit(y[:60])
    np.testing.assert_allclose(model.coef, [0.3, 0.6, -0.1], atol=1e-8)


def test_ar_needs_enough_data():
    with pytest.raises(InsufficientDataError):
        AutoRegressive(5).fit(np.arange(10.0))


def test_unknown_model_name():
    with pytest.raises(ConfigError, match="unknown model 'prophet'"):
        parse_model_specs(["prophet"])


@pytest.mark.parametrize("name", ["mlp", "lstm"])
def test_torch_models_are_seeded_and_learn(name):
    t = np.arange(400)
    y = np.sin(2 * np.pi * t / 20) + 0.01 * np.random.default_rng(4).normal(size=400)
    spec = ModelSpec.create(name, lags=20, hidden_size=16, epochs=150, seed=7)
    origins = np.arange(300, 380)
    first = spec.build().fit(y[:300]).predict(y, origins, 5)
    again = spec.build().fit(y[:300]).predict(y, origins, 5)
    np.testing.assert_array_equal(first, again)
    other_seed = ModelSpec.create(name, lags=20, hidden_size=16, epochs=150, seed=8)
    assert not np.array_equal(first, other_seed.build().fit(y[:300]).predict(y, origins, 5))
    actual = y[origins[:, None] + np.arange(1, 6)]
    naive_error = np.abs(Naive().predict(y, origins, 5) - actual).mean()
    assert np.abs(first - actual).mean() < 0.5 * naive_error


def test_torch_fit_leaves_global_rng_alone():
    import torch

    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    ModelSpec.create("mlp", epochs=2).build().fit(np.arange(60.0))
    assert torch.equal(torch.rand(3), expected)
    assert math.isfinite(float(expected.sum()))
    torch.manual_seed(123)  # and trained together (their nets are built to take the trained weights)
    fit_mlps([ModelSpec.create("mlp", epochs=2, seed=s).build() for s in (1, 2)], [np.arange(60.0)] * 2)
    assert torch.equal(torch.rand(3), expected)


def test_an_mlp_forecasts_through_its_network_exactly():
    """The MLP's forecast loop calls the layers' kernels on one buffer: the same numbers as calling the
    network (rebuilt from the model's state, so the state's names are the network's) and concatenating
    each step's forecast onto the lags."""
    import torch

    y = np.sin(np.arange(300) / 4) + np.random.default_rng(2).normal(0, 0.2, 300)
    model = ModelSpec.create("mlp", epochs=30, lags=9, hidden_size=12).build().fit(y[:250])
    origins = np.arange(240, 290)
    window = torch.as_tensor((lag_matrix(y, origins, 9) - model.mean) / model.std, dtype=model.dtype)
    net = model._build()
    net.load_state_dict({name.removeprefix("net."): torch.as_tensor(value) for name, value in model.state().items()
                         if name.startswith("net.")}, strict=True)
    with torch.no_grad():
        lags, steps = window, []
        for _ in range(6):
            steps.append(net.eval()(lags).squeeze(-1))
            lags = torch.cat([lags[:, 1:], steps[-1][:, None]], dim=1)
        through_the_network = torch.stack(steps, dim=1)
        forecast = model._recursive(window, 6)
    assert torch.equal(forecast, through_the_network)
    np.testing.assert_array_equal(model.predict(y, origins, 6),
                                  through_the_network.double().numpy() * model.std + model.mean)
    assert float(forecast.std()) > 0  # real forecasts, not a constant


@pytest.mark.parametrize("name", ["mlp", "lstm"])
def test_our_adam_trains_exactly_as_torch_optim_adam(name):
    """The hand-written update (which spares every process torch.optim's import of torch._dynamo)
    must be torch's own, bit for bit, over a real training run."""
    import torch

    from recursive_training.retrodiction.adam import Adam

    spec = ModelSpec.create(name, lags=10, hidden_size=8, epochs=1, seed=3)
    inputs = torch.as_tensor(np.sin(np.arange(200.0) / 5).reshape(20, 10), dtype=torch.float32)
    targets = torch.as_tensor(np.cos(np.arange(20.0)), dtype=torch.float32)
    trained = []
    for optimiser_class in (Adam, torch.optim.Adam):
        model = spec.build()
        torch.manual_seed(3)
        net = model._build()
        initial = [p.detach().clone() for p in net.parameters()]
        optimiser = optimiser_class(net.parameters(), lr=0.01)
        for _ in range(60):
            optimiser.zero_grad()
            loss = torch.nn.functional.mse_loss(model._step(net, inputs), targets)
            loss.backward()
            optimiser.step()
        trained.append([p.detach().clone() for p in net.parameters()])
    ours, theirs = trained
    assert all(torch.equal(a, b) for a, b in zip(ours, theirs, strict=True))
    assert not any(torch.equal(a, b) for a, b in zip(ours, initial, strict=True))  # training moved every weight
