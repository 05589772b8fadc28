"""Model families and model specs: what a model *is*, so trust can be kept per model.

A spec is a family plus the parameters that change its forecasts. Its
canonical id lists the parameters that differ from the family's defaults,
sorted by name (``mlp(hidden_size=64,lags=28)``; plain ``mlp`` with every
default), and its hash is derived from that id alone, so the same model
always gets the same key in the trust database whatever the run, batching or
machine. :data:`MODEL_FAMILIES` is the one table where a family is added; the
command-line help and the validation come from it.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import hashlib
import threading
from dataclasses import dataclass, field, fields
from typing import Any, Callable, Mapping, Sequence

from ..base import ConfigError, require_float, require_int
from .costs import ModelCost, autoregressive_cost, fit_free_cost, lstm_cost, mlp_cost, statsforecast_cost
from .models import AutoRegressive, ForecastModel, Naive, SeasonalNaive
from .stats_models import statsforecast_builder, warm_up_statsforecast

__all__ = [
    "ModelFamily",
    "ModelSpec",
    "MODEL_FAMILIES",
    "NoParameters",
    "SeasonalNaiveParameters",
    "AutoRegressiveParameters",
    "TorchParameters",
    "SeasonParameters",
    "ETSParameters",
    "CESParameters",
    "DEFAULT_MODELS",
    "models_from_options",
    "parse_model_specs",
    "split_spec_list",
    "uses_torch",
]

DEFAULT_MODELS = ("naive", "seasonal_naive", "ar")
_AST_LOCK = threading.Lock()  # ast.parse is not thread-safe in CPython 3.11 (SystemError; python/cpython#106905)


@dataclass(frozen=True)
class NoParameters:
    """A family without parameters."""


@dataclass(frozen=True)
class SeasonalNaiveParameters:
    season_length: int = 7  # m, in observations

    def __post_init__(self) -> None:
        require_int("season_length", self.season_length, minimum=1)


@dataclass(frozen=True)
class AutoRegressiveParameters:
    order: int = 7  # p, in observations

    def __post_init__(self) -> None:
        require_int("order", self.order, minimum=1)


@dataclass(frozen=True)
class TorchParameters:
    lags: int = 14
    hidden_size: int = 32
    epochs: int = 150
    learning_rate: float = 0.01
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("lags", "hidden_size", "epochs"):
            require_int(name, getattr(self, name), minimum=1)
        require_int("seed", self.seed, minimum=0)
        object.__setattr__(self, "learning_rate",
                           require_float("learning_rate", self.learning_rate, minimum=0.0, inclusive=False))


@dataclass(frozen=True)
class SeasonParameters:
    """statsforecast's AutoARIMA and AutoTheta: the season length, by statsforecast's name."""

    season_length: int = 1

    def __post_init__(self) -> None:
        require_int("season_length", self.season_length, minimum=1)


@dataclass(frozen=True)
class ETSParameters:
    """statsforecast's AutoETS: ``model`` is error, trend and season, each A, M, N or Z (chosen)."""

    season_length: int = 1
    model: str = "ZZZ"

    def __post_init__(self) -> None:
        require_int("season_length", self.season_length, minimum=1)
        if not (isinstance(self.model, str) and len(self.model) == 3 and set(self.model) <= set("AMNZ")
                and self.model[0] != "N"):
            raise ConfigError(f"ets: model {self.model!r} must be three letters of A, M, N, Z (error not N), "
                              "such as 'ZZZ' or 'AAN'")


@dataclass(frozen=True)
class CESParameters:
    """statsforecast's AutoCES: ``model`` N (simple), S (simple seasonal), P (partial), F (full) or Z."""

    season_length: int = 1
    model: str = "Z"

    def __post_init__(self) -> None:
        require_int("season_length", self.season_length, minimum=1)
        if self.model not in ("N", "S", "P", "F", "Z"):
            raise ConfigError(f"ces: model {self.model!r} must be one of N, S, P, F, Z")


def _warm_up_torch(family: str) -> Callable[[TorchParameters], None]:
    """Pay torch's lazy initialisation (autograd, the optimiser) once per process, not in a batch."""
    def warm_up(params: TorchParameters) -> None:
        import numpy as np

        model = MODEL_FAMILIES[family].build(dataclasses.replace(params, epochs=2))
        history = np.sin(np.arange(model.min_train + 8, dtype=float))
        model.fit(history).predict(history, np.array([len(history) - 1]), 2)

    return warm_up


def _torch_builder(kind: str) -> Callable[[Any], ForecastModel]:
    def build(params: TorchParameters) -> ForecastModel:
        from .torch_models import LSTMForecaster, MLPForecaster  # torch only when asked for

        cls = {"mlp": MLPForecaster, "lstm": LSTMForecaster}[kind]
        return cls(**dataclasses.asdict(params))

    return build


@dataclass(frozen=True)
class ModelFamily:
    """One row of the family table.

    ``fit_free`` families forecast from the data alone (their fit learns
    nothing), so the same origin gives the same forecast whichever window it
    is computed in; the engine uses that to recognise repeated (target,
    forecast) pairs across windows. ``warm_up`` runs on each worker before
    its first batch. ``legacy_options`` maps run-wide options (``--ar-order``)
    to the parameter they set when a spec does not. ``cost`` estimates the
    seconds a spec's fits and forecasts take (costs.py), for the planner.
    """

    name: str
    parameters: type
    build: Callable[[Any], ForecastModel]
    description: str
    needs_torch: bool = False
    fit_free: bool = False
    warm_up: Callable[[Any], None] | None = None
    legacy_options: Mapping[str, str] = field(default_factory=dict)
    cost: Callable[[Any], ModelCost] = fit_free_cost

    def defaults(self) -> Any:
        return self.parameters()

    def spec(self, values: Mapping[str, Any], run_options: Mapping[str, Any]) -> "ModelSpec":
        """A spec of this family: ``values`` as given, the rest from the run-wide options, else the defaults."""
        inherited = {param: run_options[option] for option, param in self.legacy_options.items()
                     if option in run_options}
        return ModelSpec.create(self.name, **{**inherited, **values})


_TORCH_OPTIONS = {name: name for name in ("lags", "hidden_size", "epochs", "learning_rate", "seed")}

MODEL_FAMILIES: dict[str, ModelFamily] = {family.name: family for family in (
    ModelFamily("naive", NoParameters, lambda p: Naive(), "y(t+k) = y(t)", fit_free=True),
    ModelFamily("seasonal_naive", SeasonalNaiveParameters, lambda p: SeasonalNaive(p.season_length),
                "the value one season before each target", fit_free=True,
                legacy_options={"season_length": "season_length"}),
    ModelFamily("ar", AutoRegressiveParameters, lambda p: AutoRegressive(p.order),
                "least-squares autoregression with intercept, recursive", legacy_options={"ar_order": "order"},
                cost=autoregressive_cost),
    ModelFamily("mlp", TorchParameters, _torch_builder("mlp"), "two-layer perceptron over lags (torch)",
                needs_torch=True, warm_up=_warm_up_torch("mlp"), legacy_options=_TORCH_OPTIONS, cost=mlp_cost),
    ModelFamily("lstm", TorchParameters, _torch_builder("lstm"), "one LSTM layer over lags (torch)",
                needs_torch=True, warm_up=_warm_up_torch("lstm"), legacy_options=_TORCH_OPTIONS, cost=lstm_cost),
    ModelFamily("ets", ETSParameters, statsforecast_builder("ets"),
                "exponential smoothing, its form chosen by AICc (statsforecast AutoETS)",
                warm_up=warm_up_statsforecast("ets"),
                cost=statsforecast_cost("ets")),
    ModelFamily("arima", SeasonParameters, statsforecast_builder("arima"),
                "ARIMA, its orders chosen stepwise (statsforecast AutoARIMA)", warm_up=warm_up_statsforecast("arima"),
                cost=statsforecast_cost("arima")),
    ModelFamily("theta", SeasonParameters, statsforecast_builder("theta"),
                "the Theta method, its variant chosen (statsforecast AutoTheta)", warm_up=warm_up_statsforecast("theta"),
                cost=statsforecast_cost("theta")),
    ModelFamily("ces", CESParameters, statsforecast_builder("ces"),
                "complex exponential smoothing (statsforecast AutoCES)", warm_up=warm_up_statsforecast("ces"),
                cost=statsforecast_cost("ces")),
)}


def _format_value(value: Any) -> str:
    return repr(value) if isinstance(value, (float, str)) else str(value)


@dataclass(frozen=True)
class ModelSpec:
    """A family and its parameters; equal specs make equal forecasts."""

    family: str
    parameters: Any

    @classmethod
    def create(cls, family: str, **values: Any) -> "ModelSpec":
        """Validate ``values`` against the family's parameter dataclass."""
        entry = family_of(family)
        known = {f.name: f for f in fields(entry.parameters)}
        for name in values:
            if name not in known:
                allowed = ", ".join(known) or "none"
                raise ConfigError(f"model {family!r} has no parameter {name!r} (parameters: {allowed})")
        coerced = {name: float(v) if known[name].type in ("float", float) and isinstance(v, int)
                   and not isinstance(v, bool) else v for name, v in values.items()}
        return cls(family, entry.parameters(**coerced))

    @property
    def entry(self) -> ModelFamily:
        return family_of(self.family)

    @property
    def cost(self) -> ModelCost:
        """Estimated seconds of its fits and forecasts (costs.py), for weighing batches."""
        return self.entry.cost(self.parameters)

    def _items(self, *, all_parameters: bool) -> list[tuple[str, Any]]:
        defaults = self.entry.defaults()
        return [(f.name, getattr(self.parameters, f.name)) for f in sorted(fields(self.parameters),
                                                                             key=lambda f: f.name)
                if all_parameters or getattr(self.parameters, f.name) != getattr(defaults, f.name)]

    def _render(self, items: list[tuple[str, Any]]) -> str:
        inside = ",".join(f"{k}={_format_value(v)}" for k, v in items)
        return f"{self.family}({inside})" if inside else self.family

    @functools.cached_property  # asked for per unit of every batch: 5% of a grid's batch when made each time
    def id(self) -> str:
        """Canonical and readable: parameters that differ from the defaults, sorted."""
        return self._render(self._items(all_parameters=False))

    @property
    def explicit(self) -> str:
        """Every parameter spelled out: reads back to this spec whatever the run-wide defaults."""
        return self._render(self._items(all_parameters=True))

    @property
    def hash(self) -> str:
        return hashlib.sha1(self.id.encode()).hexdigest()[:10]

    def build(self) -> ForecastModel:
        """A fresh, unfitted model; each fit gets its own so refits share no state."""
        return self.entry.build(self.parameters)

    def __str__(self) -> str:
        return self.id


def family_of(name: str) -> ModelFamily:
    try:
        return MODEL_FAMILIES[name]
    except KeyError:
        raise ConfigError(f"option 'models': unknown model {name!r}; choose from {', '.join(MODEL_FAMILIES)}") from None


def split_spec_list(text: str) -> list[str]:
    """``"ar(order=3),naive"`` → ``["ar(order=3)", "naive"]``: commas inside parentheses stay."""
    parts, depth, current = [], 0, []
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return [p.strip() for p in parts if p.strip()]


def _parse_one(text: str, defaults: Mapping[str, Any]) -> ModelSpec:
    text = text.strip()
    name, _, rest = text.partition("(")
    name = name.strip()
    values: dict[str, Any] = {}
    if rest:
        if not rest.endswith(")"):
            raise ConfigError(f"model {text!r}: expected family(name=value, ...)")
        try:
            with _AST_LOCK:
                call = ast.parse(f"f({rest[:-1]})", mode="eval").body
            assert isinstance(call, ast.Call) and not call.args
            values = {kw.arg: ast.literal_eval(kw.value) for kw in call.keywords}
            if None in values:
                raise ValueError
        except (SyntaxError, ValueError, AssertionError):
            raise ConfigError(f"model {text!r}: expected family(name=value, ...)") from None
    return family_of(name).spec(values, defaults)


def uses_torch(specs: Sequence[ModelSpec]) -> bool:
    return any(spec.entry.needs_torch for spec in specs)


def models_from_options(listed: Any = (), sections: Any = None) -> tuple[Any, ...]:
    """The models a run's options name, as given: the ``models`` option (a list, or one
    comma-separated string), then the ``[model.LABEL]`` tables, whose family is ``family``
    or else the label itself."""
    if isinstance(listed, str):
        listed = (listed,)
    elif not isinstance(listed, (list, tuple)) or not all(
            isinstance(v, (str, Mapping, ModelSpec)) for v in listed):
        raise ConfigError("option 'models' must be a list of model specs or a comma-separated string")
    if sections is None:
        return tuple(listed)
    if not isinstance(sections, Mapping) or not all(isinstance(v, Mapping) for v in sections.values()):
        raise ConfigError("option 'model' must hold one table per model, as [model.NAME]")
    return (*listed, *({"family": str(label), **table} if "family" not in table else dict(table)
                       for label, table in sections.items()))


def parse_model_specs(items: Sequence[Any], defaults: Mapping[str, Any] | None = None) -> tuple[ModelSpec, ...]:
    """Specs from strings (``"ar(order=3)"``), mappings (``{"family": "ar", "order": 3}``) or specs.

    ``defaults`` holds run-wide options (``ar_order``, ``epochs``, ...) that
    set a parameter a spec leaves out. Two entries that are the same model
    are an error, so no model is scored twice under one key.
    """
    defaults = defaults or {}
    specs: list[ModelSpec] = []
    for item in items:
        if isinstance(item, ModelSpec):
            specs.append(item)
        elif isinstance(item, str):
            specs.extend(_parse_one(part, defaults) for part in split_spec_list(item))
        elif isinstance(item, Mapping):
            values = dict(item)
            family = values.pop("family", None)
            if not isinstance(family, str):
                raise ConfigError(f"model section {item!r} needs a 'family' ({', '.join(MODEL_FAMILIES)})")
            specs.append(family_of(family).spec(values, defaults))
        else:
            raise ConfigError(f"option 'models': cannot read {item!r} as a model")
    if not specs:
        raise ConfigError("option 'models' needs at least one model")
    ids = [s.id for s in specs]
    twice = next((i for i in ids if ids.count(i) > 1), None)
    if twice:
        raise ConfigError(f"option 'models' names the model {twice} twice")
    return tuple(specs)
