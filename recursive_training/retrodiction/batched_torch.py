"""Many MLPs trained as one: stacked weights and batched matrix products, each with its own loss and Adam.

A small MLP trained alone spends its time in per-call overhead: each of
its 150 epochs is some thirty tiny tensor operations. Models of one shape
(lags, hidden size) and one training length, whatever their variable,
seed, learning rate or epochs, are trained here together: their weights
are stacked along a leading model axis, each forward pass is three
``torch.baddbmm`` over all of them, the loss is the sum of their own mean
squared errors (so each model's gradient is its own: they share no
parameter), its gradient is written out by hand (autograd's arithmetic
without its bookkeeping), and Adam, being elementwise, updates each with
its own learning rate. Models that differ only in their epochs share one
training, and each keeps the weights reached at its own last epoch. Each
starts from the weights its seed gives when trained alone, on its own
standardised windows, so the mathematics is that of separate training and
only the order of floating-point sums differs
(tests/test_batched_torch.py: forecasts within 1e-4 relative in float32).
A model's numbers do not depend on which others share its group (tested):
a batch of other variables, or another worker count, gives the same trust.

A group trains in runs whose activations fit a core's cache
(``TOGETHER_BYTES``): past it every epoch streams them from memory, and the
time per model grew with the group. Trained together, 1,024 quarterly MLPs
(14 lags, 32 hidden units, 66 training rows) took 4.5 ms a model and runs
of 64-128 of them 2.9-3.3 ms; 256 daily ones (351 rows) took 16.3 ms a
model and runs of 16 of them 10.4-10.9 ms (150 epochs, one core).
"""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Sequence

import numpy as np
import torch
from numpy.lib.stride_tricks import sliding_window_view

from ..base import InsufficientDataError
from .adam import Adam
from .engine import window_training_span
from .settings import RetrodictionSettings
from .specs import ModelSpec
from .torch_models import MLPForecaster

__all__ = ["fit_mlps", "fit_window_mlps"]

TOGETHER_BYTES = 768 * 1024  # one run's activations (trainings x training rows x hidden units): a core's L2 cache


def fit_mlps(models: Sequence[MLPForecaster], series: Sequence[np.ndarray]) -> list[MLPForecaster]:
    """Fit each of ``models`` on its own entry of ``series``, models of one shape together; returns them."""
    if len(models) != len(series):
        raise ValueError(f"{len(models)} models but {len(series)} training series")
    groups: dict[tuple[int, int, int], dict[tuple[int, float, bytes], list[int]]] = defaultdict(
        lambda: defaultdict(list))
    arrays = [np.asarray(y, dtype=float) for y in series]
    for at, (model, y) in enumerate(zip(models, arrays, strict=True)):
        if len(y) < model.min_train:
            raise InsufficientDataError(f"{model.name} with {model.lags} lags needs {model.min_train} "
                                        f"observations, got {len(y)}")
        # models that differ only in their epochs (same seed, rate and series) follow one training
        groups[(model.lags, model.hidden_size, len(y))][(model.seed, model.learning_rate, y.tobytes())].append(at)
    for (lags, hidden, length), trainings in groups.items():
        first = models[next(iter(trainings.values()))[0]]
        per_training = (length - lags) * hidden * first.dtype.itemsize
        most = max(2, TOGETHER_BYTES // per_training)
        members = list(trainings.values())
        for start in range(0, len(members), most):
            run = members[start:start + most]
            _fit_together([models[at] for training in run for at in training],
                          [arrays[at] for training in run for at in training],
                          [i for i, training in enumerate(run) for _ in training])
    return list(models)


def fit_window_mlps(series: Sequence[tuple[str, np.ndarray, np.ndarray]], specs: Sequence[ModelSpec],
                    window_start: np.datetime64,
                    settings: RetrodictionSettings) -> dict[tuple[str, str], tuple[MLPForecaster, float]]:
    """The first fit of every (variable, MLP spec) of a batch's window, trained together: by (variable,
    spec id), the fitted model and its share of the training time. ``series`` holds (variable,
    timestamps, values). With refits inside the window (``refit_every``) each model fits alone, and so
    does one with too little data (the engine then says why)."""
    if settings.refit_every:
        return {}
    keys, models, spans = [], [], []
    for variable, timestamps, values in series:
        span = window_training_span(timestamps, values, window_start, settings)
        for spec in specs:
            if spec.family == "mlp":
                model = spec.build()
                if len(span) >= model.min_train:
                    keys.append((variable, spec.id))
                    models.append(model)
                    spans.append(span)
    started = time.perf_counter()
    fit_mlps(models, spans)
    share = (time.perf_counter() - started) / max(1, len(models))
    return {key: (model, share) for key, model in zip(keys, models, strict=True)}


def _fit_together(models: list[MLPForecaster], series: list[np.ndarray], training_of: list[int]) -> None:
    """Models of one shape on series of one length: no padding, so no model's sums see another's rows.

    Models of one training (consecutive, numbered by ``training_of``: the
    same seed, rate and series, differing only in their epochs) take the
    same steps: it is run once, and each model takes the weights reached
    after its own epochs, so a grid over epochs costs what its longest point
    costs. A lone training runs beside a twin of itself: torch multiplies a
    batch of one matrix with another kernel, whose rounding differs, and a
    model's numbers must not depend on whether others share its group.
    """
    leaders = [at for at, training in enumerate(training_of) if at == 0 or training != training_of[at - 1]]
    leaders = leaders * 2 if len(leaders) == 1 else leaders
    standardised = [model._standardise(y) for model, y in zip(models, series, strict=True)]
    windows, targets = [], []
    for at in leaders:
        z = standardised[at]
        windows.append(sliding_window_view(z[:-1], models[at].lags))
        targets.append(z[models[at].lags:])
    dtype = models[0].dtype
    inputs = torch.as_tensor(np.stack(windows), dtype=dtype)
    wanted = torch.as_tensor(np.stack(targets), dtype=dtype)
    weights = _FlatLayers(_stacked_initial_weights([models[at] for at in leaders], dtype))
    rates = torch.tensor([models[at].learning_rate for at in leaders], dtype=dtype)
    optimiser = Adam([weights.values], lr=weights.per_element(rates))
    done_after: dict[int, list[int]] = defaultdict(list)
    for at, model in enumerate(models):
        done_after[model.epochs].append(at)
    for epoch in range(1, max(done_after) + 1):
        _gradients(weights, inputs, wanted)
        optimiser.step()
        for at in done_after.get(epoch, ()):
            _take_weights(models[at], weights, training_of[at])


def _take_weights(model: MLPForecaster, weights: _FlatLayers, training: int) -> None:
    """``model`` fitted: copies of training ``training``'s weights as they are now (its standardisation is
    set; the training goes on for models of more epochs)."""
    model.take_layers([(weight[training].clone(), bias[training].clone()) for weight, bias in weights.weights])


class _FlatLayers:
    """Every model's weights and biases in one flat tensor, each layer's a contiguous (models, ...) view.

    Adam, being elementwise, then updates all of them in a handful of
    operations instead of a handful per tensor, and the backward pass writes
    each gradient straight into its place in ``values.grad``. Both are
    updated in place, so their per-layer views are made once (making them
    every epoch was 4% of training).
    """

    def __init__(self, layers: list[tuple[torch.Tensor, torch.Tensor]]) -> None:
        self.shapes = [tensor.shape for layer in layers for tensor in layer]
        self.values = torch.cat([tensor.reshape(-1) for layer in layers for tensor in layer])
        self.values.grad = torch.zeros_like(self.values)
        self.weights = self._layers(self.values)
        self.gradients = self._layers(self.values.grad)

    def _layers(self, flat: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """(weight, bias) per layer, as views of ``flat`` (the values or their gradient)."""
        views, at = [], 0
        for shape in self.shapes:
            views.append(flat[at:at + shape.numel()].view(shape))
            at += shape.numel()
        return list(zip(views[0::2], views[1::2]))

    def per_element(self, per_model: torch.Tensor) -> torch.Tensor:
        """A value per model spread over that model's elements of the flat tensor."""
        return torch.cat([per_model.repeat_interleave(shape[1:].numel()) for shape in self.shapes])


def _gradients(weights: _FlatLayers, inputs: torch.Tensor, wanted: torch.Tensor) -> None:
    """The gradient of the sum of every model's mean squared error, into ``weights.values.grad``.

    Autograd's own arithmetic for the three layers, written out: the same
    kernels (relu's backward is ``threshold_backward``), no graph to record
    and no gradient to accumulate, so an epoch costs about a third less.
    """
    (w1, b1), (w2, b2), (w3, b3) = weights.weights
    (g1, gb1), (g2, gb2), (g3, gb3) = weights.gradients
    h1 = torch.baddbmm(b1.unsqueeze(1), inputs, w1.transpose(1, 2)).relu_()
    h2 = torch.baddbmm(b2.unsqueeze(1), h1, w2.transpose(1, 2)).relu_()
    out = torch.baddbmm(b3.unsqueeze(1), h2, w3.transpose(1, 2))  # (models, rows, 1)
    d_out = out.sub_(wanted.unsqueeze(2)).mul_(2.0 / inputs.shape[1])
    torch.bmm(d_out.transpose(1, 2), h2, out=g3)
    torch.sum(d_out, dim=1, out=gb3)
    d_h2 = torch.ops.aten.threshold_backward(d_out * w3, h2, 0)
    torch.bmm(d_h2.transpose(1, 2), h1, out=g2)
    torch.sum(d_h2, dim=1, out=gb2)
    d_h1 = torch.ops.aten.threshold_backward(torch.bmm(d_h2, w2), h1, 0)
    torch.bmm(d_h1.transpose(1, 2), inputs, out=g1)
    torch.sum(d_h1, dim=1, out=gb1)


def _stacked_initial_weights(models: list[MLPForecaster],
                             dtype: torch.dtype) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Each model's first weights, as its seed makes them when it is trained alone, stacked per layer."""
    drawn = []
    with torch.random.fork_rng(devices=[]):
        for model in models:
            torch.default_generator.manual_seed(model.seed)
            drawn.append(model.initial_layers())
    return [(torch.stack([layers[i][0] for layers in drawn]).to(dtype),
             torch.stack([layers[i][1] for layers in drawn]).to(dtype)) for i in range(3)]
