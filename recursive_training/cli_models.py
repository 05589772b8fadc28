"""``run_training.py models ...``: list, show, tag, deprecate and delete registered models."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from .layout import DEFAULT_OUTPUT_DIR, registry_in

__all__ = ["add_models_parser", "run_models"]

def add_models_parser(commands: Any) -> None:
    models = commands.add_parser("models", help="list, show, tag, deprecate or delete registered models")
    actions = models.add_subparsers(dest="action", required=True, parser_class=type(models),
                                    help="what to do (each has its own --help)")

    def with_registry(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
        parser.add_argument("--output-dir", type=Path, default=DEFAULT_OUTPUT_DIR,
                            help="where runs and the registry (OUTPUT_DIR/registry) live "
                                 f"(default {DEFAULT_OUTPUT_DIR})")
        return parser

    listing = with_registry(actions.add_parser("list", help="registered models, filtered"))
    listing.add_argument("--variable", help="only this variable's models")
    listing.add_argument("--family", help="only this family's models (naive, ar, mlp, ...)")
    listing.add_argument("--tag", dest="tags", action="append", default=[], metavar="TAG",
                         help="only models with this tag; repeat for several (all must match)")
    listing.add_argument("--status", choices=("active", "deprecated"), help="only models with this status")
    listing.add_argument("--limit", type=int, help="at most N models")
    listing.add_argument("--json", action="store_true", help="one JSON object per line instead of a table")
    show = with_registry(actions.add_parser("show", help="everything the registry holds about one model"))
    show.add_argument("model_id", metavar="ID", help="the model's id (models list shows them)")
    tag = with_registry(actions.add_parser("tag", help="add tags to a model (or remove them with --remove)"))
    tag.add_argument("model_id", metavar="ID", help="the model's id (models list shows them)")
    tag.add_argument("tags", nargs="+", metavar="TAG", help="one or more tags")
    tag.add_argument("--remove", action="store_true", help="remove these tags instead")
    deprecate = with_registry(actions.add_parser("deprecate", help="mark a model deprecated (--undo: active)"))
    deprecate.add_argument("model_id", metavar="ID", help="the model's id (models list shows them)")
    deprecate.add_argument("--undo", action="store_true", help="mark it active again")
    delete = with_registry(actions.add_parser("delete", help="remove a model and its file"))
    delete.add_argument("model_id", metavar="ID", help="the model's id (models list shows them)")


def run_models(args: argparse.Namespace) -> int:
    from .registry import ModelRegistry

    with ModelRegistry(registry_in(args.output_dir), create=False) as registry:
        if args.action == "list":
            entries = registry.list_models(variable=args.variable, family=args.family, tags=args.tags,
                                           status=args.status, limit=args.limit)
            if args.json:
                for entry in entries:
                    print(json.dumps(entry.to_dict()))
            else:
                _print_table(entries)
            return 0
        if args.action == "show":
            print(json.dumps(registry.get_model(args.model_id).to_dict(), indent=1))
            return 0
        if args.action == "tag":
            changes = {"remove_tags" if args.remove else "add_tags": args.tags}
            entry = registry.update_model_metadata(args.model_id, **changes)
            print(f"{entry.id}: tags {', '.join(entry.tags) or '(none)'}")
            return 0
        if args.action == "deprecate":
            entry = registry.update_model_metadata(args.model_id, status="active" if args.undo else "deprecated")
            print(f"{entry.id}: {entry.status}")
            return 0
        entry = registry.delete_model(args.model_id)
        print(f"deleted {entry.id} ({entry.variable}, {entry.spec_id})")
        return 0


def _print_table(entries: list) -> None:
    header = ("id", "variable", "model", "trust", "interval", "trained to", "status", "tags")
    rows = [(e.id, e.variable, e.spec_id, "-" if e.trust_mean is None else f"{e.trust_mean:.3f}",
             "-" if e.trust_low is None else f"[{e.trust_low:.3f}, {e.trust_high:.3f}]", e.train_end[:19],
             e.status, ",".join(e.tags)) for e in entries]
    widths = [max(len(str(r[i])) for r in (header, *rows)) for i in range(len(header))]
    for row in (header, tuple("-" * w for w in widths), *rows):
        print("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)).rstrip())
    print(f"{len(entries)} model(s)")
