"""The web API and page over one output directory (the original system's endpoints, on FastAPI).

Reads what runs wrote (results, report pages, the trust database, the
registry) and starts forecast jobs. No request names a file: runs, models
and forecasts are named by ids checked against what the directory holds,
and a forecast reads the store of a run. With a token every request must
carry ``Authorization: Bearer <token>``.
"""

from __future__ import annotations

import secrets
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Literal

from fastapi import Body, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from ..base import (
    ConfigError,
    DataError,
    RetrodictionError,
    UnknownForecastError,
    UnknownModelError,
    UnknownRunError,
    UnknownVariableError,
    one_line,
    store_root,
)
from ..layout import registry_in, trust_db_in
from ..report import REPORT_NAME
from .jobs import ForecastJobs, ForecastRequest
from .page import index_page
from .runs import latest_run, list_runs, run_directory, run_summary

__all__ = ["create_app"]

_NOT_FOUND = (UnknownRunError, UnknownModelError, UnknownForecastError)
_BAD_INPUT = (ConfigError, UnknownVariableError)


class ForecastBody(BaseModel):
    """POST /forecasts: a forecast of a run's store (the newest run's by default)."""

    model_config = ConfigDict(extra="forbid")
    horizon: int = Field(ge=1, le=100_000)
    run_id: str | None = None
    variables: list[str] = Field(default_factory=list, max_length=100_000)
    model: str | None = Field(None, max_length=500)
    select: Literal["trust-low", "trust-mean", "mase"] = "trust-low"
    min_origins: int = Field(20, ge=1)
    interval_half_life_days: float | None = Field(None, gt=0)


class ModelPatch(BaseModel):
    """PATCH /models/{id}: a new status and tags to add or remove; a model's fit never changes."""

    model_config = ConfigDict(extra="forbid")
    status: Literal["active", "deprecated"] | None = None
    add_tags: list[str] = Field(default_factory=list, max_length=100)
    remove_tags: list[str] = Field(default_factory=list, max_length=100)


def create_app(output_dir: str | Path, token: str | None = None) -> FastAPI:
    """The application serving ``output_dir``; ``token`` (if given) guards every request."""
    output_dir = Path(output_dir)
    jobs = ForecastJobs(output_dir)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        jobs.close()

    app = FastAPI(title="recursive-training", lifespan=lifespan,
                  description="Runs, trust, registered models and forecasts of one output directory.")

    @app.middleware("http")
    async def require_token(request: Request, call_next):
        if token is not None:
            given = request.headers.get("authorization", "")
            if not secrets.compare_digest(given.encode(), f"Bearer {token}".encode()):
                return JSONResponse({"detail": "missing or wrong bearer token"}, status_code=401,
                                    headers={"WWW-Authenticate": "Bearer"})
        return await call_next(request)

    @app.exception_handler(RetrodictionError)
    async def known_error(request: Request, exc: RetrodictionError) -> JSONResponse:
        status = 404 if isinstance(exc, _NOT_FOUND) else 422 if isinstance(exc, _BAD_INPUT) else 500
        return JSONResponse({"detail": one_line(exc)}, status_code=status)

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        """One line naming each bad field, instead of pydantic's nested list."""
        problems = "; ".join(f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}"
                             for error in exc.errors())
        return JSONResponse({"detail": problems}, status_code=422)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def index() -> str:
        runs = list_runs(output_dir)
        reported = next((r["run_id"] for r in runs if r["report"]), None)
        newest = None if reported is None else (
            reported, (run_directory(output_dir, reported) / REPORT_NAME).read_text(encoding="utf-8"))
        return index_page(output_dir, runs, _models(output_dir, limit=50), newest)

    @app.get("/runs")
    def runs() -> list[dict[str, Any]]:
        return list_runs(output_dir)

    @app.get("/runs/{run_id}")
    def run(run_id: str) -> dict[str, Any]:
        return run_summary(output_dir, run_id)

    @app.get("/runs/{run_id}/report", response_class=HTMLResponse)
    def report(run_id: str) -> HTMLResponse:
        page = run_directory(output_dir, run_id) / REPORT_NAME
        if not page.is_file():
            raise UnknownRunError(f"run {run_id!r} has no report: python run_training.py report RUN_DIR writes it")
        return HTMLResponse(page.read_text(encoding="utf-8"))

    @app.get("/trust")
    def trust(variable: str | None = None, model: str | None = None) -> list[dict[str, Any]]:
        from analytics import OptimizedTrustTracker

        path = trust_db_in(output_dir)
        if not path.is_file():
            return []
        with OptimizedTrustTracker(path) as tracker:
            asked = variable is not None or model is not None  # else every key, read at once
            found = tracker.estimates(tracker.keys(variable=variable, spec=model) if asked else None)
        return [{**e.to_dict(), "model": e.spec} for e in found]

    @app.get("/models")
    def models(limit: int = Query(100, ge=1, le=10_000), offset: int = Query(0, ge=0)) -> list[dict[str, Any]]:
        return _models(output_dir, limit=limit, offset=offset)

    @app.get("/models/search")
    def search(variable: str | None = None, family: str | None = None, tag: list[str] = Query(default_factory=list),
               status: Literal["active", "deprecated"] | None = None,
               min_trust: float | None = Query(None, ge=0, le=1),
               limit: int = Query(100, ge=1, le=10_000), offset: int = Query(0, ge=0)) -> list[dict[str, Any]]:
        """Models matching every filter; ``min_trust`` on the lower trust bound at registration."""
        found = _models(output_dir, variable=variable, family=family, tags=tag, status=status)
        if min_trust is not None:
            found = [m for m in found if m["trust_low"] is not None and m["trust_low"] >= min_trust]
        return found[offset:offset + limit]

    @app.get("/models/{model_id}")
    def model(model_id: str) -> dict[str, Any]:
        with _registry(output_dir) as registry:
            return registry.get_model(model_id).to_dict()

    @app.patch("/models/{model_id}")
    def update_model(model_id: str, patch: ModelPatch = Body()) -> dict[str, Any]:
        with _registry(output_dir) as registry:
            return registry.update_model_metadata(model_id, status=patch.status, add_tags=patch.add_tags,
                                                  remove_tags=patch.remove_tags).to_dict()

    @app.delete("/models/{model_id}")
    def delete_model(model_id: str) -> dict[str, Any]:
        with _registry(output_dir) as registry:
            return registry.delete_model(model_id).to_dict()

    @app.post("/forecasts", status_code=202)
    def start_forecast(body: ForecastBody = Body()) -> dict[str, Any]:
        run_id = body.run_id or latest_run(output_dir)
        store = store_root(run_summary(output_dir, run_id)["store"])
        _check_forecast(body, store)
        job_id = jobs.submit(ForecastRequest(
            horizon=body.horizon, run_id=run_id, variables=tuple(body.variables), model=body.model,
            select=body.select, min_origins=body.min_origins,
            interval_half_life_days=body.interval_half_life_days), store)
        return {"id": job_id, "status": "queued", "run_id": run_id, "url": f"/forecasts/{job_id}"}

    @app.get("/forecasts/{job_id}")
    def forecast(job_id: str) -> dict[str, Any]:
        return jobs.get(job_id)

    return app


def _registry(output_dir: Path):
    from ..registry import ModelRegistry

    if not registry_in(output_dir).is_dir():
        raise UnknownModelError(f"no model registry in {output_dir} yet: forecast first")
    return ModelRegistry(registry_in(output_dir), create=False)


def _models(output_dir: Path, **filters: Any) -> list[dict[str, Any]]:
    if not registry_in(output_dir).is_dir():
        return []
    with _registry(output_dir) as registry:
        return [m.to_dict() for m in registry.list_models(**filters)]


def _check_forecast(body: ForecastBody, store: Path | str) -> None:
    """What can be checked before the job starts, so a bad request is a 422 and not a failed job."""
    from ..data import open_store
    from ..retrodiction import parse_model_specs

    if body.model is not None:
        parse_model_specs([body.model])
    try:
        known = set(open_store(store).variables)
    except DataError as exc:
        raise DataError(f"the run's store cannot be read: {one_line(exc)}") from None
    unknown = [v for v in body.variables if v not in known]
    if unknown:
        raise UnknownVariableError(f"the store has no variable {', '.join(map(repr, unknown[:5]))}")
