"""Neural forecasters trained on lagged windows with torch, seeded for reruns.

Both learn the one-step map from the last ``lags`` standardised observations
to the next, and forecast further steps recursively, batching all origins of
a window through the network at once.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import Any, Mapping, Sequence

import numpy as np
import torch
from numpy.lib.stride_tricks import sliding_window_view
from torch import nn

from ..base import InsufficientDataError, ModelError
from .adam import Adam
from .models import lag_matrix

__all__ = ["MLPForecaster", "LSTMForecaster"]


class _LaggedTorchForecaster(ABC):
    """Shared training and recursive forecasting; subclasses supply the network."""

    name = "torch"
    dtype: torch.dtype = torch.float32  # float64 in the tests that compare batched training exactly

    def __init__(
        self, *, lags: int, hidden_size: int, epochs: int, learning_rate: float, seed: int
    ) -> None:
        self.lags = lags
        self.hidden_size = hidden_size
        self.epochs = epochs
        self.learning_rate = learning_rate
        self.seed = seed
        self.min_history = lags
        self.min_train = lags + 8
        self.net: nn.Module | None = None
        self.mean = 0.0
        self.std = 1.0

    @abstractmethod
    def _build(self) -> nn.Module:
        """The network mapping a (batch, lags) window to (batch, 1)."""

    def _step(self, net: nn.Module, window: torch.Tensor) -> torch.Tensor:
        return net(window).squeeze(-1)

    def fit(self, y: np.ndarray) -> "_LaggedTorchForecaster":
        if len(y) < self.min_train:
            raise InsufficientDataError(
                f"{self.name} with {self.lags} lags needs {self.min_train} observations, got {len(y)}"
            )
        z = self._standardise(y)
        inputs = torch.as_tensor(sliding_window_view(z[:-1], self.lags).copy(), dtype=self.dtype)
        targets = torch.as_tensor(z[self.lags :], dtype=self.dtype)
        with torch.random.fork_rng(devices=[]):
            torch.default_generator.manual_seed(self.seed)  # torch.manual_seed also queues GPU seeds: 1.4 ms
            net = self._build().to(self.dtype)
            optimiser = Adam(net.parameters(), lr=self.learning_rate)
            loss_fn = nn.MSELoss()
            for _ in range(self.epochs):
                optimiser.zero_grad()
                loss = loss_fn(self._step(net, inputs), targets)
                loss.backward()
                optimiser.step()
        self._keep(net.eval())
        return self

    def _keep(self, net: nn.Module) -> None:
        """Keep a trained (or loaded) network as this model's fitted state."""
        self.net = net

    @property
    def fitted(self) -> bool:
        return self.net is not None

    def _state_dict(self) -> Mapping[str, torch.Tensor]:
        assert self.net is not None
        return self.net.state_dict()

    def _standardise(self, y: np.ndarray) -> np.ndarray:
        """``y`` as training sees it, after taking its mean and spread as this model's standardisation."""
        self.mean = float(np.mean(y))
        self.std = float(np.std(y)) or 1.0
        return (y - self.mean) / self.std

    def state(self) -> dict[str, np.ndarray]:
        """The network's weights (``net.`` + their state-dict names) and the standardisation."""
        if not self.fitted:
            raise ModelError(f"{self.name} model has no state before fit")
        weights = {f"net.{name}": tensor.detach().numpy().copy() for name, tensor in self._state_dict().items()}
        return {"mean": np.array(self.mean), "std": np.array(self.std), **weights}

    def with_state(self, state: Mapping[str, np.ndarray]) -> "_LaggedTorchForecaster":
        net = self._build()
        weights = {name.removeprefix("net."): torch.as_tensor(np.asarray(value))
                   for name, value in state.items() if name.startswith("net.")}
        try:
            net.load_state_dict(weights, strict=True)
            mean, std = float(state["mean"]), float(state["std"])
        except (KeyError, RuntimeError, TypeError, ValueError) as exc:
            raise ModelError(f"{self.name} state does not fit this spec: {' '.join(str(exc).split())[:200]}") from None
        if not (np.isfinite(mean) and np.isfinite(std) and std > 0):
            raise ModelError(f"{self.name} state has an unusable standardisation (mean {mean}, std {std})")
        self._keep(net.eval())
        self.mean, self.std = mean, std
        return self

    def predict(self, y: np.ndarray, origins: np.ndarray, horizon: int) -> np.ndarray:
        if not self.fitted:
            raise ModelError(f"{self.name} model used before fit")
        z = (lag_matrix(y, origins, self.lags) - self.mean) / self.std
        with torch.no_grad():
            out = self._recursive(torch.as_tensor(z, dtype=self.dtype), horizon)
        return out.double().numpy() * self.std + self.mean

    def _recursive(self, window: torch.Tensor, horizon: int) -> torch.Tensor:
        """``horizon`` steps from each row of standardised lags, each step's forecast fed back as a lag."""
        out = torch.empty((len(window), horizon), dtype=self.dtype)
        for k in range(horizon):
            out[:, k] = self._step(self.net, window)
            window = torch.cat([window[:, 1:], out[:, k : k + 1]], dim=1)
        return out


_MLP_LINEAR = (0, 2, 4)  # the positions of the linear layers in the network's nn.Sequential


class MLPForecaster(_LaggedTorchForecaster):
    """Two hidden ReLU layers over the lag vector.

    Once fitted it keeps only its three layers' (weight, bias) tensors: all
    that forecasting reads, and what a training of many MLPs at once
    (batched_torch.py) hands each model. Building an ``nn.Sequential`` per
    model to copy them into cost about 0.5 ms a model, a tenth of a 12-point
    grid's sweep. Its state keeps the ``nn.Sequential``'s names.
    """

    name = "mlp"

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.layers: tuple[tuple[torch.Tensor, torch.Tensor], ...] | None = None

    def _layer_sizes(self) -> tuple[tuple[int, int], ...]:
        """(inputs, outputs) of each linear layer, in the network's order."""
        return (self.lags, self.hidden_size), (self.hidden_size, self.hidden_size), (self.hidden_size, 1)

    def _build(self) -> nn.Module:
        first, second, out = (nn.Linear(inputs, outputs) for inputs, outputs in self._layer_sizes())
        return nn.Sequential(first, nn.ReLU(), second, nn.ReLU(), out)

    def initial_layers(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """The (weight, bias) of each layer as :meth:`_build` initialises them from the current torch seed,
        drawn as ``nn.Linear`` draws them, without building the modules (about 0.3 ms a model: a quarter
        of a worker's Python time when it trained 1,000 MLPs together)."""
        layers = []
        for fan_in, fan_out in self._layer_sizes():
            weight, bias = torch.empty(fan_out, fan_in), torch.empty(fan_out)
            nn.init.kaiming_uniform_(weight, a=math.sqrt(5))
            nn.init.uniform_(bias, -1 / math.sqrt(fan_in), 1 / math.sqrt(fan_in))
            layers.append((weight, bias))
        return layers

    def _keep(self, net: nn.Module) -> None:
        self.take_layers([(net[i].weight.detach(), net[i].bias.detach()) for i in _MLP_LINEAR])

    def take_layers(self, layers: Sequence[tuple[torch.Tensor, torch.Tensor]]) -> None:
        """Fitted: these (weight, bias) tensors, in the network's order, are now this model's."""
        self.layers = tuple(layers)

    @property
    def fitted(self) -> bool:
        return self.layers is not None

    def _state_dict(self) -> Mapping[str, torch.Tensor]:
        assert self.layers is not None
        return {f"{i}.{name}": tensor for i, layer in zip(_MLP_LINEAR, self.layers, strict=True)
                for name, tensor in zip(("weight", "bias"), layer, strict=True)}

    def _recursive(self, window: torch.Tensor, horizon: int) -> torch.Tensor:
        """The network's own kernels (``addmm``, as ``nn.Linear`` calls them) on a buffer holding the lags and
        then each step's forecast, each step reading its lags as a view: the same numbers without the
        module calls and the concatenation per step, which took half of a forecast's time."""
        assert self.layers is not None
        (w1, b1), (w2, b2), (w3, b3) = self.layers
        lags = self.lags
        lagged = torch.empty((len(window), lags + horizon), dtype=self.dtype)
        lagged[:, :lags] = window
        for k in range(horizon):
            hidden = torch.addmm(b1, lagged[:, k:k + lags], w1.t()).relu_()
            hidden = torch.addmm(b2, hidden, w2.t()).relu_()
            lagged[:, lags + k] = torch.addmm(b3, hidden, w3.t())[:, 0]
        return lagged[:, lags:]


class _LSTMNet(nn.Module):
    def __init__(self, hidden_size: int) -> None:
        super().__init__()
        self.lstm = nn.LSTM(input_size=1, hidden_size=hidden_size, batch_first=True)
        self.head = nn.Linear(hidden_size, 1)

    def forward(self, window: torch.Tensor) -> torch.Tensor:
        sequence, _ = self.lstm(window.unsqueeze(-1))
        return self.head(sequence[:, -1])


class LSTMForecaster(_LaggedTorchForecaster):
    """One LSTM layer reading the lag window as a sequence."""

    name = "lstm"

    def _build(self) -> nn.Module:
        return _LSTMNet(self.hidden_size)
