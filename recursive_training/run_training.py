"""The command line: ingest files, run a retrodiction, forecast or predict, manage registered models, try the demo.

Every error a user can cause ends as one line on stderr and a non-zero exit
(1 for bad input or failed batches, 2 for bad usage, 130 when interrupted by
Ctrl-C, 143 when stopped by SIGTERM, 141 quietly when the reader of its
output stopped reading, as in ``... | head``).
"""

from __future__ import annotations

import argparse
import atexit
import dataclasses
import logging
import os
import shlex
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Sequence

from .base import AUTO, ConfigError, RetrodictionError, available_cores, store_root
from .cli_forecast import add_forecast_parser, run_forecast, run_predict
from .cli_models import add_models_parser, run_models
from .cli_report import add_report_parser, run_report
from .cli_serve import add_serve_parser, run_serve
from .cli_sweep import add_sweep_parser, run_sweep

__all__ = ["build_parser", "cli", "main"]

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT
EXIT_TERMINATED = 143  # 128 + SIGTERM: what timeout, SLURM preemption and container stops send
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, as a shell reports a command whose reader stopped reading
SAMPLE_DATA = Path(__file__).resolve().parent.parent / "data" / "sample.csv"

def _workers(text: str) -> int | str:
    """--workers: a whole number or auto."""
    if text == "auto":
        return text
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number or auto, got {text!r}") from None


# (flags, config key, type, help); every one also settable in a config file under its key. Later
# flags of a tuple are the original tool's names for the same option.
RUN_OPTIONS: tuple[tuple[str | tuple[str, ...], str, Any, str], ...] = (
    (("--start", "--start-date"), "start", str, "first forecast origin time, ISO 8601 (default: first observation)"),
    (("--end", "--end-date"), "end", str, "end of the evaluated range, exclusive (default: after the last observation)"),
    ("--batch-size-days", "batch_size_days", float, "length of each evaluation window in days, on a fixed grid from --window-anchor (default 90)"),
    ("--window-period", "window_period", str, "calendar windows instead: month, quarter or year"),
    ("--window-anchor", "window_anchor", str, "where the grid of --batch-size-days windows starts (default 1970-01-01)"),
    ("--variables-per-batch", "variables_per_batch", int, "at most N variables per batch, in even groups (default: automatic, about 8 batches per worker, the last ones smaller)"),
    ("--horizon", "horizon", int, "forecast steps ahead, in observations (default 7)"),
    ("--step", "step", int, "use every STEP-th observation in a window as an origin (default 1)"),
    ("--lookback", "lookback", str, "training span before each window: observations (365) or a duration (730D, 8W, 24M, 5Y); capped at the history there is (default 365)"),
    ("--refit-every", "refit_every", int, "refit every N origins; 0 = once per window (default 0)"),
    ("--tolerance", "tolerance", float, "success if |error| / naive MAE <= this (default 1.0)"),
    ("--season-length", "season_length", int, "season m of seasonal_naive when its spec does not set it (default 7)"),
    ("--ar-order", "ar_order", int, "order of ar when its spec does not set it (default 7)"),
    ("--lags", "lags", int, "input window of the torch models when their spec does not set it (default 14)"),
    ("--hidden-size", "hidden_size", int, "hidden units of the torch models, likewise (default 32)"),
    ("--epochs", "epochs", int, "training epochs of the torch models, likewise (default 150)"),
    ("--learning-rate", "learning_rate", float, "Adam learning rate of the torch models, likewise (default 0.01)"),
    ("--seed", "seed", int, "seed of the torch models, likewise (default 0)"),
    ("--fallback-model", "fallback_model", str, "a model spec that scores in place of a model that raises (as statsforecast's fallback_model)"),
    ("--store-kind", "store_kind", str, "base, optimized or streaming (default optimized)"),
    ("--batch-limit", "batch_limit", int, "run only the first N batches in time order"),
    (("--workers", "--max-workers"), "workers", _workers,
     "Dask worker processes, or auto (the default for a local cluster): one batch runs here, then "
     "the rest here if a cluster would not pay for its start, else on one worker per core; 0 runs in "
     "this process, without Dask; with --min-workers, the most an adaptive cluster grows to"),
    ("--min-workers", "min_workers", int,
     "make the cluster adaptive: at least M workers, more while batches wait, up to --max-workers"),
    ("--cluster", "cluster", str,
     "local (default), or slurm, pbs, sge or lsf: workers as jobs of that queue, through dask-jobqueue, "
     "set up by the config file's [cluster] table and Dask's jobqueue configuration"),
    ("--resources", "resources", str,
     "what each batch needs of a worker, as Dask worker resources: GPU=1,MEMORY=4e9 (batches run only on "
     "workers that offer them; a local cluster's workers offer them)"),
    ("--priority", "priority", int,
     "on a shared scheduler, batches of a higher priority run before those of other runs (default 0)"),
    (("--threads-per-worker", "--dask-threads-per-worker"), "threads_per_worker", int, "threads of each local worker (default 1; torch models use one each)"),
    (("--scheduler", "--dask-scheduler-address"), "scheduler_address", str, "address of a running Dask scheduler instead of a local cluster"),
    (("--dashboard-port", "--dask-dashboard-port"), "dashboard_port", int, "local dashboard port, 0 = any free one (default 8787)"),
    (("--output", "--output-file"), "output", str, "results JSON file (default: OUTPUT_DIR/RUN_ID/results.json)"),
    ("--output-dir", "output_dir", str, "where runs, trust and metrics databases live (default retrodiction-runs)"),
    ("--run-id", "run_id", str, "name of this run (default: derived from the range and settings)"),
    ("--trust-db", "trust_db", str, "trust database (default OUTPUT_DIR/trust.sqlite)"),
    ("--metrics-db", "metrics_db", str, "metrics database (default OUTPUT_DIR/metrics.sqlite)"),
    ("--prior-alpha", "prior_alpha", float, "Beta prior alpha of trust (default 1)"),
    ("--prior-beta", "prior_beta", float, "Beta prior beta of trust (default 1)"),
    ("--decay-half-life-days", "decay_half_life_days", float, "halve older evidence every N days of data time"),
    ("--retries", "retries", int, "times a batch whose code raised runs again, on a cluster or in-process (default 2)"),
    ("--batch-timeout", "batch_timeout_seconds", float,
     "seconds a batch may run before it is recorded as failed (default 3600)"),
    ("--tls-ca-file", "tls_ca_file", str, "CA certificate to verify a TLS scheduler (with --scheduler tls://...)"),
    ("--tls-cert", "tls_cert", str, "client certificate for a TLS scheduler"),
    ("--tls-key", "tls_key", str, "client private key for a TLS scheduler"),
)

DEMO_SETTINGS: dict[str, Any] = {
    "start": "2022-01-01", "end": "2024-01-01", "batch_size_days": 73,
    "models": ("naive", "seasonal_naive", "ar", "mlp"), "horizon": 7, "lookback": 365, "epochs": 100,
}


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors in one line."""

    def error(self, message: str) -> None:  # type: ignore[override]
        hint = "" if "--help)" in message else f" (see {self.prog} --help)"
        self.exit(EXIT_USAGE, f"error: {message}{hint}\n")


def _models_help() -> str:
    from .retrodiction.specs import MODEL_FAMILIES

    families = "; ".join(
        f"{f.name}" + (f"({', '.join(field.name for field in dataclasses.fields(f.parameters))})"
                       if dataclasses.fields(f.parameters) else "") + f": {f.description}"
        for f in MODEL_FAMILIES.values())
    return ("model spec(s), a family with optional parameters, e.g. 'ar(order=3),ar(order=7)'; repeat or "
            f"comma-separate (default naive,seasonal_naive,ar). Families: {families}")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="run_training.py",
        description="Retrodiction on Dask: train on the past, forecast, score against what happened, "
                    "and learn which forecasts of each variable deserve trust.",
    )
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser,
                                     help="what to do (each has its own --help)")

    ingest = commands.add_parser("ingest", help="validate CSV/Parquet files and add them to a store")
    ingest.add_argument("files", nargs="+", type=Path, metavar="FILE",
                        help="long (timestamp, variable, value) or wide (timestamp + one column per variable)")
    ingest.add_argument("--store", required=True, type=store_root,
                        help="store directory (created if missing) or URL (s3://bucket/prefix)")
    ingest.add_argument("--sort", action="store_true", help="sort unsorted input instead of refusing it")
    ingest.add_argument("--replace", action="store_true",
                        help="overwrite values the store already holds at the same timestamps (default: refuse)")

    catalog = commands.add_parser("catalog", help="list the variables of a store")
    catalog.add_argument("--store", required=True, type=store_root, help="store directory or URL")

    run = commands.add_parser("run", help="retrodict, score and update trust",
                              argument_default=argparse.SUPPRESS)
    run.add_argument("--store", dest="store_path", help="store directory or URL (s3://bucket/prefix)")
    run.add_argument("--config", type=Path, help="TOML or YAML file of options; flags override it")
    run.add_argument("--variables", nargs="+", metavar="NAME", help="variables to evaluate (default: all)")
    run.add_argument("--model", "--models", dest="models", action="append", metavar="SPEC",
                     help=_models_help())
    for flags, key, kind, text in RUN_OPTIONS:
        run.add_argument(*((flags,) if isinstance(flags, str) else flags), dest=key, type=kind, help=text)
    run.add_argument("--no-dask", dest="workers", action="store_const", const=0,
                     help="run the batches one by one in this process (the same as --workers 0)")
    run.add_argument("--use-dask", dest="use_dask", action="store_true",
                     help="run on Dask (the default; kept for the original tool's command lines)")
    run.add_argument("--resume", action="store_true", help="continue a run from its results journal")
    run.add_argument("--repair", action="store_true",
                     help="with --resume: drop damaged journal lines (after saving a copy) instead of stopping")
    run.add_argument("--force", action="store_true",
                     help="let --output overwrite a results file written by another run")
    run.add_argument("--worker-profiling", action="store_true",
                     help="fill the dashboard's Profile page (local cluster; costs a few percent of speed)")
    run.add_argument("--no-progress", dest="progress", action="store_false", help="do not draw a progress bar")
    run.add_argument("--no-report", dest="report", action="store_false",
                     help="do not write RUN_DIR/report.html at the end (plots of trust, errors and forecasts)")
    run.add_argument("--log-level", choices=("DEBUG", "INFO", "WARNING", "ERROR"), type=str.upper,
                     help="log the coordinator's and Dask's messages from this level on (default: errors only)")
    run.add_argument("--log-dir", type=Path, help="write the log to DIR/RUN_ID.log instead of the terminal")

    add_forecast_parser(commands)
    add_models_parser(commands)
    add_report_parser(commands)
    add_serve_parser(commands)
    add_sweep_parser(commands)

    demo = commands.add_parser("demo", help="ingest the bundled sample data and run a retrodiction on it")
    demo.add_argument("--output-dir", type=Path, default=Path(".demo"), help="where the demo store and runs go")
    demo.add_argument("--workers", type=_workers, default=2,
                      help="local Dask worker processes (default 2, so that there is a dashboard to watch; "
                           "auto as for run); 0 runs in this process, without Dask")
    demo.add_argument("--dashboard-port", type=int, default=8787,
                      help="local dashboard port, 0 = any free one (default 8787)")
    demo.add_argument("--no-progress", dest="progress", action="store_false", help="do not draw a progress bar")
    return parser


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _ingest(args: argparse.Namespace) -> int:
    from .data import RecursiveDataStore

    store = RecursiveDataStore(args.store, create=True)
    for path in args.files:
        report = store.ingest(path, sort=args.sort, replace=args.replace)
        if not report.variables:
            print(f"{report.source}: nothing new, all {report.unchanged} rows are already in {args.store}")
            continue
        kept = f"; {report.unchanged} rows already there" if report.unchanged else ""
        replaced = f"; {report.replaced} values replaced" if report.replaced else ""
        print(f"{report.source}: {report.rows} new rows of {len(report.variables)} variable(s) "
              f"({_some(report.variables)}) into {args.store}{kept}{replaced}")
    return 0


def _some(names: Sequence[str], shown: int = 8) -> str:
    """A few names and how many more: one line, whether a file holds 3 variables or 3,000."""
    more = len(names) - shown
    return ", ".join(names[:shown]) + (f" and {more} more" if more > 0 else "")


def _catalog(args: argparse.Namespace) -> int:
    from .data import RecursiveDataStore

    store = RecursiveDataStore(args.store)
    print("variable\tfirst\tlast\tobservations\tfrequency")
    for name in store.variables:
        info = store.info(name)
        print(f"{name}\t{info.first}\t{info.last}\t{info.count}\t{info.frequency}")
    return 0


def _run_options(args: argparse.Namespace) -> dict[str, Any]:
    from .config_file import load_config_file, split_names

    given = vars(args).copy()
    for key in ("command", "progress", "use_dask", "log_level", "log_dir"):
        given.pop(key, None)
    options = load_config_file(given.pop("config")) if "config" in given else {}
    if "variables" in given:
        given["variables"] = split_names(given["variables"])
    if "models" in given:
        from .retrodiction.specs import split_spec_list

        given["models"] = [spec for value in given["models"] for spec in split_spec_list(value)]
        options.pop("model", None)  # models named on the command line replace the file's
    if isinstance(options.get("cluster"), dict) and given.get("cluster", "local") != "local":
        given["cluster"] = {**options["cluster"], "kind": given["cluster"]}  # the file's job queue settings stay
    options.update(given)
    if "store_path" not in options:
        raise ConfigError("no store given: pass --store DIR (or store_path in the --config file)")
    return options


ALERTS_LOGGER = "recursive_training.alerts"


def _show_alerts() -> None:
    """Each firing alert as one line on stderr, whatever the log level (alerts.py), and only that line:
    not again through the terminal handler of ``--log-level`` (a log file gets it too, see _start_logging)."""
    alerts = logging.getLogger(ALERTS_LOGGER)
    if not alerts.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("alert: %(message)s"))
        alerts.addHandler(handler)
        alerts.setLevel(logging.WARNING)
        alerts.propagate = False


def _start_logging(level: str | None, directory: Path | None, run_id: str) -> Path | None:
    """The coordinator's and Dask's messages at ``level`` (INFO with a directory), to the terminal or a file."""
    if level is None and directory is None:
        return None
    numeric = getattr(logging, level or "INFO")
    path = None
    if directory is not None:
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"{run_id}.log"
    logging.getLogger().addHandler(_handler(path, numeric))
    if path is not None:
        logging.getLogger(ALERTS_LOGGER).addHandler(_handler(path, numeric))
    logging.getLogger("recursive_training").setLevel(numeric)
    _set_dask_log_level(numeric)
    from . import cluster

    cluster.keep_dask_logs = True
    dask_logger = logging.getLogger("distributed")  # Dask gives it a terminal handler and no propagation
    for own in list(dask_logger.handlers):
        dask_logger.removeHandler(own)
    dask_logger.addHandler(_handler(path, numeric))
    return path


def _handler(path: Path | None, level: int) -> logging.Handler:
    """A handler of its own for each logger tree: Dask changes its handlers' levels when a cluster starts."""
    handler: logging.Handler = logging.FileHandler(path) if path else logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.setLevel(level)
    return handler


def _set_dask_log_level(level: int) -> None:
    """Every Dask logger, those Dask gave a level of their own when imported included."""
    import distributed  # noqa: F401  (it sets its loggers' levels when imported; ours must come after)

    for name in list(logging.root.manager.loggerDict):
        if name == "distributed" or name.startswith("distributed."):
            logging.getLogger(name).setLevel(level)


def _start_workers_early(options: dict[str, Any]) -> None:
    """Start the fork server of a local cluster's workers now, so that its imports overlap ours.

    Only for a run that may start a local cluster (see fork_server.py). The
    options are checked properly later, with the rest; here a doubt only
    means the server starts when the cluster does.
    """
    from .cluster_settings import ClusterSettings
    from .fork_server import start_fork_server
    from .retrodiction.specs import DEFAULT_MODELS, models_from_options, parse_model_specs, uses_torch

    flat = {str(key).replace("-", "_"): value for key, value in options.items()}
    workers = flat.get("workers", AUTO)
    if workers == 0 or flat.get("scheduler_address") or (workers == AUTO and available_cores() < 2):
        return
    try:
        if ClusterSettings.from_value(flat.get("cluster", "local")).job_queue:
            return  # a job queue's workers start elsewhere
        needs_torch = uses_torch(parse_model_specs(
            models_from_options(flat.get("models", ()), flat.get("model")) or DEFAULT_MODELS))
    except ConfigError:
        return
    start_fork_server(needs_torch)


def _execute(options: dict[str, Any], show_progress: bool, resume_hint: str,
             log_level: str | None = None, log_dir: Path | None = None) -> int:
    _start_workers_early(options)
    from .config import TrainingConfig
    from .parallel_trainer import ParallelTrainingCoordinator
    from .progress import ProgressBar
    from .summary import format_trust_table

    config = TrainingConfig.from_mapping(options)
    coordinator = ParallelTrainingCoordinator(config)
    startup = _seconds_since_process_start()
    if startup is not None:
        coordinator.timings["startup_seconds"] = startup
    # Dask's own messages (reconnects, restarts, retries) are not for users: every failure is
    # reported once, in the summary and the exit status; --log-level shows them
    _set_dask_log_level(logging.CRITICAL)
    _show_alerts()
    log_file = _start_logging(log_level, log_dir, coordinator.run_id)
    if log_file is not None:
        _say(f"log: {log_file}")
    bar = ProgressBar() if show_progress else None
    shown_warnings: list[str] = []
    shown_dashboard: list[str] = []
    shown_notes: list[str] = []

    def show_new_notes() -> None:  # choices the run made, such as --workers auto's
        for note in coordinator.notes[len(shown_notes):]:
            shown_notes.append(note)
            _say(note)

    def progress(done: int, total: int, batch: Any) -> None:
        if batch is None:
            _say(f"run {coordinator.run_id}: {total} batches, {done} already done")
            for warning in coordinator.warnings:
                _say(f"warning: {warning}")
            shown_warnings.extend(coordinator.warnings)
        show_new_notes()
        if coordinator.dashboard_link and not shown_dashboard:  # a local cluster may come up after the start
            shown_dashboard.append(coordinator.dashboard_link)
            _say(_dashboard_hint(coordinator.dashboard_link, config.scheduler_address is None))
        if bar is not None:
            bar(done, total, batch)

    stopped_by: list[int] = []

    def on_stop(signum: int, frame: Any) -> None:
        """Ctrl-C and SIGTERM alike: stop in order, keep what finished; a second one stops at once."""
        stopped_by.append(signum)
        coordinator.stop_training()
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, _terminate_now)

    previous = {sig: signal.signal(sig, on_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        summary = coordinator.start_training(progress)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    show_new_notes()
    path = coordinator.save_results_to_file()
    print(format_trust_table(summary))
    print(f"\nresults: {path}\ntrust database: {summary.trust_db}", flush=True)
    report = None if stopped_by else coordinator.write_report()  # after the table; one who stopped wants out
    if report is not None:
        print(f"report: {report}")
    for warning in coordinator.warnings[len(shown_warnings):]:  # what the run learned on the way
        _say(f"warning: {warning}")
    counts = summary.batches
    if stopped_by:
        how = "interrupted" if stopped_by[0] == signal.SIGINT else "terminated (SIGTERM)"
        _say(f"{how}: {counts.completed} of {counts.total} batches finished and kept in {path}; {resume_hint}")
        return EXIT_INTERRUPTED if stopped_by[0] == signal.SIGINT else EXIT_TERMINATED
    if summary.scheduler_lost:
        _say(f"error: {summary.scheduler_lost}; {resume_hint}")
        return EXIT_FAILED
    if counts.failed:
        first = summary.failed_batches[0]
        _say(f"error: {counts.failed} of {counts.total} batches failed "
             f"(first: {first.batch_id}: {first.error}); see {path}")
        return EXIT_FAILED
    if summary.failed_models:
        _say(f"error: a model failed in {len(summary.failed_models)} (variable, window) pair(s), the rest "
             f"counted (first: {summary.failed_models[0]}); see {path}")
        return EXIT_FAILED
    return 0


def _seconds_since_process_start() -> float | None:
    """Interpreter start and imports until the run is configured, to the kernel's 10 ms tick (None off Linux).

    From /proc: the process's start in clock ticks since boot against the
    uptime now (psutil's create_time adds the boot time, known to 1 s only).
    """
    try:
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        start_ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
    except (OSError, ValueError, IndexError):
        return None
    return max(0.0, uptime - start_ticks / os.sysconf("SC_CLK_TCK"))


def _terminate_now(signum: int, frame: Any) -> None:
    raise SystemExit(EXIT_TERMINATED)


def _resume_hint() -> str:
    """The command that resumes, with the interpreter actually running this one."""
    command = [*([sys.executable] if sys.argv[0].endswith(".py") else []), *sys.argv]
    if "--resume" not in command:
        command.append("--resume")
    return f"continue with: {shlex.join(command)}"


def _dashboard_hint(link: str, local: bool) -> str:
    if not local:
        return f"Dask dashboard: {link}"
    port = link.split(":")[-1].split("/")[0]
    return (f"Dask dashboard: {link} (bound to localhost; from another machine: "
            f"ssh -N -L {port}:127.0.0.1:{port} USER@THIS_HOST, then open http://localhost:{port}/status)")


def _demo(args: argparse.Namespace) -> int:
    from .data import RecursiveDataStore

    if not SAMPLE_DATA.is_file():
        raise RetrodictionError(f"sample data {SAMPLE_DATA} not found; run the demo from a clone of the repository")
    store_dir = args.output_dir / "store"
    store = RecursiveDataStore(store_dir, create=True)
    if not store.variables:
        report = store.ingest(SAMPLE_DATA)
        _say(f"ingested {report.rows} rows of {len(report.variables)} variables from {SAMPLE_DATA.name}")
    options = {**DEMO_SETTINGS, "store_path": store_dir, "output_dir": args.output_dir / "runs",
               "workers": args.workers, "dashboard_port": args.dashboard_port,
               "run_id": time.strftime("demo-%Y%m%d-%H%M%S")}
    return _execute(options, args.progress, "run the demo again to start over")


def cli() -> None:
    """The command's entry point: :func:`main`, then exit without tearing the interpreter down.

    Finalising the modules of torch, pandas and Dask took about a second
    after every run, with nothing left to do: by then every store, file and
    cluster is closed. Exit handlers still run and output is flushed; only
    if a thread that would hold up a normal exit is still alive does the
    normal exit wait for it.
    """
    code = main()
    if any(not thread.daemon for thread in threading.enumerate() if thread is not threading.main_thread()):
        sys.exit(code)
    atexit._run_exitfuncs()  # logging's shutdown and Dask's among them, as at a normal exit
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: nothing more can be said on it
            pass
    os._exit(code)


_COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {  # every subcommand but run
    "ingest": _ingest, "catalog": _catalog, "forecast": run_forecast, "predict": run_predict, "models": run_models,
    "report": run_report, "serve": run_serve, "sweep": run_sweep, "demo": _demo,
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:  # name the subcommand whose --help lists what it takes
        parser.error(f"unrecognized arguments: {' '.join(unknown)} (see {parser.prog} {args.command} --help)")
    try:
        command = _COMMANDS.get(args.command)
        if command is not None:
            return command(args)
        return _execute(_run_options(args), getattr(args, "progress", True), _resume_hint(),
                        getattr(args, "log_level", None), getattr(args, "log_dir", None))
    except RetrodictionError as exc:
        _say(f"error: {exc}")
        return EXIT_FAILED
    except KeyboardInterrupt:
        _say("interrupted")
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # `... | head`: the reader has all it wanted; say nothing more on the pipe
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except Exception as exc:  # never a traceback for users; RETRODICTION_DEBUG=1 shows it
        if os.environ.get("RETRODICTION_DEBUG"):
            raise
        _say(f"internal error: {type(exc).__name__}: {' '.join(str(exc).split())} "
             "(set RETRODICTION_DEBUG=1 to see the traceback)")
        return EXIT_FAILED
