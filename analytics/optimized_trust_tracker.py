"""Bayesian trust per (variable, model spec, schedule, scoring context), kept as an evidence ledger.

The database stores evidence, never totals: blocks of origins of one key,
with the success of each horizon step, where each (key, origin) is stored at
most once. Applying evidence is one transaction that adds only the origins
not stored yet (read under the write lock, so concurrent runs add to each
other instead of overwriting), and the result never depends on batching,
retries, resumes or overlapping runs. A block per batch rather than a row per
origin keeps a coordinator of a thousand workers ahead of its outcomes. Trust is computed from
the ledger when it is read: the Beta posterior with prior (α₀, β₀) over the
points that are new evidence (see :mod:`analytics.posterior` for the
interval), optionally with evidence discounted by its target's age relative
to the key's newest target, which does not depend on the order of arrival.
"""

from __future__ import annotations

import itertools
import math
import os
import sqlite3
import threading
from collections import defaultdict
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import numpy as np

from recursive_training.base import TrustError, open_database

from .evidence import EvidenceBlock, TrustKey, unpack_bits
from .posterior import beta_interval, distinct_counts, load_quantiles_in_background, segmented_posteriors

__all__ = ["ForecastErrors", "OptimizedTrustTracker", "TrustEstimate", "StepTrust", "SCHEMA_VERSION"]

SCHEMA_VERSION = "4"  # 1: totals per (variable, model) and applied batch ids; 2 and 3: a row per origin
ROW_PER_ORIGIN_VERSIONS = ("2", "3")  # 2 without the errors column; converted to blocks when opened
NS_PER_DAY = 86_400e9
BUSY_TIMEOUT_SECONDS = 120.0  # how long a writer waits for another run's transaction

# origins: int64 ns, sorted; success and counted: each origin's flags packed to whole bytes; targets: int64 ns
# and errors: float64, one horizon-wide row per origin. A block's origins are new when it is stored, so its last
# origin names it within its key, and the index on (key_id, last_origin) also finds the blocks a new one
# overlaps. Rows go to the end of the table (rowid order) and only the index entry lands among its key's:
# a table keyed by (key_id, last_origin) itself made each insert rewrite a page in the middle of the file.
_BLOCKS = """
CREATE TABLE IF NOT EXISTS evidence_blocks (
    key_id INTEGER NOT NULL, last_origin INTEGER NOT NULL, first_origin INTEGER NOT NULL,
    grid_window INTEGER NOT NULL, origins BLOB NOT NULL, success BLOB NOT NULL, counted BLOB NOT NULL,
    targets BLOB NOT NULL, errors BLOB);
CREATE UNIQUE INDEX IF NOT EXISTS evidence_blocks_key ON evidence_blocks (key_id, last_origin);
"""
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS trust_keys (
    key_id INTEGER PRIMARY KEY, variable TEXT NOT NULL, spec TEXT NOT NULL, schedule TEXT NOT NULL,
    context TEXT NOT NULL, horizon INTEGER NOT NULL, UNIQUE (variable, spec, schedule, context));
""" + _BLOCKS
PAGE_SIZE = 65536  # a block of a month of daily origins is a few KB: 4 KB pages held one each
KEYS_REMEMBERED = 100_000  # key ids and newest origins kept between transactions (bounded memory)
ROWS_PER_QUERY = 400  # rows of a VALUES list in one query (SQLite allows 32,766 parameters)
KEYS_PER_READ = 64  # keys whose evidence one query reads
POINTS_PER_PASS = 2_000_000  # (origin, step) points whose posteriors are computed together (16 MB an array)


@dataclass(frozen=True, eq=False)
class ForecastErrors:
    """A key's stored forecast errors (forecast minus actual) by origin and horizon step, oldest first.

    NaN where the evidence predates kept errors; ``counted`` marks the points
    that are new evidence (a repeated (target, forecast) pair counts once).
    """

    key: TrustKey
    origins: np.ndarray  # (n,) int64 ns since 1970
    targets: np.ndarray  # (n, horizon) int64 ns since 1970
    errors: np.ndarray  # (n, horizon) float64
    counted: np.ndarray  # (n, horizon) bool


@dataclass(frozen=True)
class StepTrust:
    """Trust at one horizon step (every point of that step; no pair repeats within a step)."""

    step: int
    mean: float
    low: float
    high: float
    successes: int
    failures: int


@dataclass(frozen=True)
class TrustEstimate:
    """The posterior of one key: mean (the headline), 95% credible interval and evidence counts.

    ``successes`` and ``failures`` count the points that are new evidence
    (repeated (target, forecast) pairs once); ``alpha`` and ``beta`` are
    after decay and the design effect.
    """

    key: TrustKey
    mean: float
    low: float
    high: float
    alpha: float
    beta: float
    successes: int
    failures: int
    origins: int
    windows: int
    design_effect: float
    steps: tuple[StepTrust, ...]

    @property
    def variable(self) -> str:
        return self.key.variable

    @property
    def spec(self) -> str:
        return self.key.spec

    def to_dict(self) -> dict[str, Any]:
        """What ``dataclasses.asdict`` gives (the key's fields last), without its deep copy of every number:
        a results file writes one per (variable, spec), and asdict took 0.25 s for 2,405 of them."""
        data = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "key"}
        data["steps"] = tuple({f.name: getattr(step, f.name) for f in fields(StepTrust)} for step in self.steps)
        data.update({f.name: getattr(self.key, f.name) for f in fields(TrustKey)})
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TrustEstimate":
        """The inverse of :meth:`to_dict`, for results read back from JSON."""
        values = dict(data)
        key = TrustKey(*(values.pop(name) for name in ("variable", "spec", "schedule", "context")))
        steps = tuple(StepTrust(**step) for step in values.pop("steps"))
        return cls(key=key, steps=steps, **values)


class OptimizedTrustTracker:
    """The ledger in SQLite; ``db_path=None`` keeps it in memory (tests, one-off runs).

    Any number of trackers, in any processes, may share one file.
    """

    def __init__(
        self,
        db_path: str | os.PathLike[str] | None = None,
        *,
        prior_alpha: float = 1.0,
        prior_beta: float = 1.0,
        decay_half_life_days: float | None = None,
    ) -> None:
        if not (prior_alpha > 0 and prior_beta > 0):
            raise TrustError(f"trust prior must be positive, got ({prior_alpha}, {prior_beta})")
        if decay_half_life_days is not None and not decay_half_life_days > 0:
            raise TrustError(f"decay half-life must be positive, got {decay_half_life_days}")
        self.prior_alpha, self.prior_beta = float(prior_alpha), float(prior_beta)
        load_quantiles_in_background()  # the posteriors need them; a run reads trust at its end
        self.decay_half_life_days = decay_half_life_days
        self._kappa = math.log(2) / decay_half_life_days if decay_half_life_days else 0.0
        self.path = None if db_path is None else Path(db_path)
        self._lock = threading.Lock()
        self._db = self._open()
        # what this connection knows of the database, so a group needs few queries: key ids never change once
        # made; each key's newest stored origin holds while no other connection has written (data_version)
        self._ids: dict[TrustKey, int] = {}
        self._newest: dict[int, int | None] = {}
        self._seen_version: int | None = None

    # opening -----------------------------------------------------------------
    @property
    def _name(self) -> str:
        return "trust database " + (":memory:" if self.path is None else str(self.path))

    def _open(self) -> sqlite3.Connection:
        if self.path is not None and not self.path.exists():
            self._create_file()
        if self.path is not None and self.path.stat().st_size == 0:
            raise TrustError(f"{self._name} is empty (0 bytes), not a trust database; "
                             "move it aside or choose another --trust-db (earlier trust is not reset silently)")
        db = open_database(self.path, "" if self.path is not None else _SCHEMA, what="trust database",
                           error=TrustError, timeout=BUSY_TIMEOUT_SECONDS)
        try:
            if self.path is None:
                with db:
                    db.execute("INSERT INTO meta VALUES ('schema_version', ?)", (SCHEMA_VERSION,))
            tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            version = dict(db.execute("SELECT key, value FROM meta")).get("schema_version") if "meta" in tables \
                else None
        except sqlite3.Error as exc:
            db.close()
            raise TrustError(f"{self._name} cannot be read ({exc}); it is damaged or not a trust database") from None
        if version in ROW_PER_ORIGIN_VERSIONS:
            version = self._to_blocks(db)
        if version != SCHEMA_VERSION:
            db.close()
            if {"trust", "applied"} <= tables:
                raise TrustError(
                    f"{self._name} was written by an older version (totals per batch id, which cannot tell "
                    "which forecasts they counted, so they cannot be converted); move it aside to keep it, "
                    "and rerun to rebuild trust")
            found = f"schema version {version}" if version else f"tables {', '.join(sorted(tables)) or 'none'}"
            raise TrustError(f"{self._name} is not a trust database of this version ({found})")
        return db

    def _to_blocks(self, db: sqlite3.Connection) -> str | None:
        """Versions 2 and 3 kept a row per origin: regroup them into blocks (one per key, window and whether
        errors were kept) in one transaction, which another process may have done first."""
        try:
            db.execute("BEGIN IMMEDIATE")
            version = dict(db.execute("SELECT key, value FROM meta")).get("schema_version")
            if version in ROW_PER_ORIGIN_VERSIONS:
                for statement in filter(str.strip, _BLOCKS.split(";")):  # not executescript: it commits
                    db.execute(statement)
                errors = "errors" if version == "3" else "NULL"
                rows = db.execute(f"SELECT key_id, grid_window, origin, success, counted, targets, {errors} "
                                  "FROM evidence ORDER BY key_id, grid_window, origin")
                for (key_id, window, _), group in itertools.groupby(rows, lambda r: (r[0], r[1], r[6] is None)):
                    group = list(group)
                    origins = np.array([r[2] for r in group], dtype=np.int64)
                    db.execute("INSERT INTO evidence_blocks VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", (
                        key_id, int(origins[-1]), int(origins[0]), window, origins.tobytes(),
                        *(b"".join(r[column] for r in group) for column in (3, 4, 5)),
                        None if group[0][6] is None else b"".join(r[6] for r in group)))
                db.execute("DROP TABLE evidence")
                db.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (SCHEMA_VERSION,))
                version = SCHEMA_VERSION
            db.commit()
        except sqlite3.Error as exc:
            db.rollback()
            db.close()
            raise TrustError(f"{self._name}: cannot convert its evidence to blocks ({exc})") from None
        return version

    def _create_file(self) -> None:
        """Build the schema in a private file and link it into place, so a reader never sees a
        half-made database and two runs creating it at once both end with the same one."""
        assert self.path is not None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        private = self.path.with_name(f".{self.path.name}.{os.getpid()}.{threading.get_ident()}.new")
        try:
            db = sqlite3.connect(private)
            db.execute(f"PRAGMA page_size = {PAGE_SIZE}")
            with db:
                db.executescript(_SCHEMA)
                db.execute("INSERT INTO meta VALUES ('schema_version', ?)", (SCHEMA_VERSION,))
            db.close()
            try:
                os.link(private, self.path)
            except FileExistsError:
                pass  # another run made it first
        except (OSError, sqlite3.Error) as exc:
            raise TrustError(f"{self._name}: cannot create ({exc})") from None
        finally:
            private.unlink(missing_ok=True)

    # writing -----------------------------------------------------------------
    def apply(self, blocks: Iterable[EvidenceBlock]) -> int:
        """Add the evidence not stored before, in one transaction; return how many origins were new.

        The group's key ids and the stored blocks it overlaps are read with a
        few queries for the whole group, and the blocks that are new whole
        (sorted, overlapping no other block of their key, stored or in the
        group: nearly all of them) are packed together and inserted with one
        statement. That is what keeps a coordinator of a thousand workers
        ahead of its outcomes; the rest go one by one, after them.
        """
        blocks = [b for b in blocks if len(b)]
        if not blocks:
            return 0
        spans = _spans(blocks)
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                self._forget_if_others_wrote()
                key_ids = self._key_ids({b.key: b.horizon for b in blocks})
                owners = [key_ids[block.key] for block in blocks]
                held = self._overlapping(owners, blocks, spans)
                whole = _whole(owners, spans, held)
                self._store([(owners[i], blocks[i]) for i in whole])
                chosen = set(whole)
                added = sum(len(blocks[i]) for i in whole) + sum(
                    self._add(block, owners[i], held) for i, block in enumerate(blocks) if i not in chosen)
                self._db.commit()
            except sqlite3.Error as exc:
                self._db.rollback()
                self._ids.clear()  # ids made in the rolled-back transaction are gone, and so are its blocks
                self._newest.clear()
                raise TrustError(f"{self._name}: cannot save evidence ({exc})") from None
            if len(self._ids) > KEYS_REMEMBERED:  # bounded: a run over more keys than this asks again
                self._ids.clear()
                self._newest.clear()
            return added

    def _forget_if_others_wrote(self) -> None:
        """Drop what is known of each key's newest origin if another connection committed since we last
        looked (our own commits leave data_version as it was)."""
        version = self._db.execute("PRAGMA data_version").fetchone()[0]
        if version != self._seen_version:
            self._newest.clear()
            self._seen_version = version

    def _key_ids(self, horizons: dict[TrustKey, int]) -> dict[TrustKey, int]:
        """The id of each key, made for those new to the database (which hold nothing yet)."""
        unknown = [key for key in horizons if key not in self._ids]
        found = {key: key_id for key, (key_id, _) in self._key_rows(unknown).items()}
        missing = [key for key in unknown if key not in found]
        if missing:
            self._db.executemany("INSERT INTO trust_keys (variable, spec, schedule, context, horizon) "
                                 "VALUES (?, ?, ?, ?, ?)", [(*_fields(key), horizons[key]) for key in missing])
            made = {key: key_id for key, (key_id, _) in self._key_rows(missing).items()}
            self._newest.update(dict.fromkeys(made.values()))
            found |= made
        self._ids.update(found)
        return {key: self._ids[key] for key in horizons}

    def _key_rows(self, keys: Iterable[TrustKey] | None) -> dict[TrustKey, tuple[int, int]]:
        """The id and horizon of every stored key, or of those of ``keys`` that are stored: looked up by
        the key's index, so a forecast's groups each asking for a few keys of many read only theirs."""
        if keys is None:
            return {TrustKey(*row[1:5]): (row[0], row[5]) for row in self._db.execute(
                "SELECT key_id, variable, spec, schedule, context, horizon FROM trust_keys")}
        found: dict[TrustKey, tuple[int, int]] = {}
        for part in _parts(list(keys), 4):
            values = ", ".join(["(?, ?, ?, ?)"] * len(part))
            found.update((TrustKey(*row[1:5]), (row[0], row[5])) for row in self._db.execute(
                f"WITH wanted (variable, spec, schedule, context) AS (VALUES {values}) "
                "SELECT key_id, variable, spec, schedule, context, horizon FROM wanted JOIN trust_keys "
                "USING (variable, spec, schedule, context)", [f for key in part for f in _fields(key)]))
        return found

    def _overlapping(self, owners: list[int], blocks: list[EvidenceBlock],
                     spans: list[tuple[int, int] | None]) -> dict[int, list[_Held]]:
        """Per key id, the stored blocks that the group's blocks of that key (``owners``) may overlap: asked
        of the database only for keys whose newest stored origin is not before the group's first."""
        ranges: dict[int, tuple[int, int]] = {}
        for key_id, block, span in zip(owners, blocks, spans, strict=True):
            low, high = span or (int(block.origins.min()), int(block.origins.max()))
            was = ranges.get(key_id, (low, high))
            ranges[key_id] = (min(was[0], low), max(was[1], high))
        self._learn_newest([key_id for key_id in ranges if key_id not in self._newest])
        held: dict[int, list[_Held]] = {key_id: [] for key_id in ranges}
        wanted = [(key_id, low, high) for key_id, (low, high) in ranges.items()
                  if self._newest[key_id] is not None and self._newest[key_id] >= low]
        for part in _parts(wanted, 3):
            values = ", ".join(["(?, ?, ?)"] * len(part))
            for key_id, origins, lacks_errors in self._db.execute(
                    f"WITH wanted (key_id, low, high) AS (VALUES {values}) "
                    "SELECT b.key_id, b.origins, b.errors IS NULL FROM wanted w JOIN evidence_blocks b "
                    "ON b.key_id = w.key_id AND b.last_origin >= w.low AND b.first_origin <= w.high",
                    [v for row in part for v in row]):
                held[key_id].append(_Held(np.frombuffer(origins, dtype=np.int64), bool(lacks_errors)))
        for key_id, (_, high) in ranges.items():  # what the group stores is never past its last origin
            newest = self._newest[key_id]
            self._newest[key_id] = high if newest is None else max(newest, high)
        return held

    def _learn_newest(self, key_ids: list[int]) -> None:
        for part in _parts(key_ids, 1):
            known = dict(self._db.execute(
                f"SELECT key_id, MAX(last_origin) FROM evidence_blocks WHERE key_id IN ({','.join('?' * len(part))}) "
                "GROUP BY key_id", part))
            self._newest.update((key_id, known.get(key_id)) for key_id in part)

    def _add(self, block: EvidenceBlock, key_id: int, held: dict[int, list[_Held]]) -> int:
        """Store the origins of ``block`` that no stored block holds; where a stored block lacks the errors
        (kept before errors were), the same forecasts' errors fill them in and nothing else changes."""
        origins, rows = _sorted_once(block.origins)
        new: np.ndarray | None = None  # None: every origin is new (no stored block overlaps)
        filled = False
        for stored in held[key_id]:
            if stored.origins[-1] < origins[0] or stored.origins[0] > origins[-1]:
                continue
            absent = ~np.isin(origins, stored.origins, assume_unique=True)
            new = absent if new is None else new & absent
            if stored.lacks_errors and block.errors is not None:
                ours = block.errors if rows is None else block.errors[rows]
                filled |= self._fill_errors(key_id, stored, dict(zip(origins.tolist(), ours)))
        if filled:  # the stored blocks changed: read them again
            held[key_id] = [_Held(np.frombuffer(o, dtype=np.int64), bool(lacks)) for o, lacks in self._db.execute(
                "SELECT origins, errors IS NULL FROM evidence_blocks WHERE key_id = ?", (key_id,))]
        if new is not None:
            rows = np.flatnonzero(new) if rows is None else rows[new]
        if rows is not None:
            if not len(rows):
                return 0
            block = _subset(block, rows)
        self._store([(key_id, block)])
        held[key_id].append(_Held(block.origins.astype(np.int64, copy=False), block.errors is None))
        return len(block)

    def _store(self, items: list[tuple[int, EvidenceBlock]]) -> None:
        """Insert each (key id, block) as a stored block (its origins sorted, each new), packed together."""
        by_horizon: dict[int, list[tuple[int, EvidenceBlock]]] = defaultdict(list)
        for key_id, block in items:
            by_horizon[block.horizon].append((key_id, block))
        for horizon, group in by_horizon.items():
            blocks = [block for _, block in group]
            sizes = [len(block) for block in blocks]
            ends = np.cumsum(sizes)
            starts = ends - sizes
            origins = np.concatenate([block.origins for block in blocks]).astype(np.int64, copy=False)
            firsts, lasts = origins[starts].tolist(), origins[ends - 1].tolist()
            flags, wide = (horizon + 7) // 8, 8 * horizon
            origin_bytes = origins.tobytes()
            success = np.packbits(np.concatenate([block.success for block in blocks]), axis=1).tobytes()
            counted = np.packbits(np.concatenate([block.counted for block in blocks]), axis=1).tobytes()
            targets = np.concatenate([block.targets for block in blocks]).astype(np.int64, copy=False).tobytes()
            errors = np.concatenate([np.zeros((len(b), horizon)) if b.errors is None else b.errors
                                     for b in blocks]).astype("<f8", copy=False).tobytes()
            self._db.executemany("INSERT INTO evidence_blocks VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", [
                (key_id, last, first, int(block.window), origin_bytes[8 * start:8 * end],
                 success[flags * start:flags * end], counted[flags * start:flags * end],
                 targets[wide * start:wide * end], None if block.errors is None else errors[wide * start:wide * end])
                for (key_id, block), start, end, first, last
                in zip(group, starts.tolist(), ends.tolist(), firsts, lasts, strict=True)])

    def _fill_errors(self, key_id: int, stored: _Held, errors: dict[int, np.ndarray]) -> bool:
        """The stored block's origins that ``errors`` covers gain them; if it covers only some, the block is
        split in two, so that every stored block has errors for all of its origins or for none. Whether
        anything changed."""
        covered = np.array([int(o) in errors for o in stored.origins])
        if not covered.any():
            return False
        found = np.array([errors[int(o)] for o in stored.origins[covered]])
        named = (key_id, int(stored.origins[-1]))
        if covered.all():
            self._db.execute("UPDATE evidence_blocks SET errors = ? WHERE key_id = ? AND last_origin = ?",
                             (np.ascontiguousarray(found, dtype="<f8").tobytes(), *named))
            return True
        window, horizon, *packed = self._db.execute(
            "SELECT b.grid_window, k.horizon, b.success, b.counted, b.targets FROM evidence_blocks b "
            "JOIN trust_keys k USING (key_id) WHERE b.key_id = ? AND b.last_origin = ?", named).fetchone()
        n = len(stored.origins)
        old = EvidenceBlock(TrustKey("", "", "", ""), window, stored.origins, unpack_bits(packed[0], n, horizon),
                            unpack_bits(packed[1], n, horizon),
                            np.frombuffer(packed[2], dtype=np.int64).reshape(n, horizon))
        self._db.execute("DELETE FROM evidence_blocks WHERE key_id = ? AND last_origin = ?", named)
        self._store([(key_id, replace(_subset(old, np.flatnonzero(covered)), errors=found)),
                     (key_id, _subset(old, np.flatnonzero(~covered)))])
        return True

    # reading -----------------------------------------------------------------
    def keys(self, *, variable: str | None = None, spec: str | None = None) -> list[TrustKey]:
        """Every stored key, sorted; or those of ``variable`` and (or) ``spec``, found by the database, so
        that asking about one variable never computes the posterior of every other."""
        wanted = [(column, value) for column, value in (("variable", variable), ("spec", spec)) if value is not None]
        where = " AND ".join(f"{column} = ?" for column, _ in wanted)
        with self._lock:
            return sorted(TrustKey(*r) for r in self._db.execute(
                "SELECT variable, spec, schedule, context FROM trust_keys" + (f" WHERE {where}" if where else ""),
                [value for _, value in wanted]))

    def estimates(self, keys: Iterable[TrustKey] | None = None, *, steps: bool = True) -> list[TrustEstimate]:
        """Posterior of every key (or of ``keys``), sorted by key; keys without evidence are left out.

        ``steps=False`` leaves out the trust per horizon step (``steps`` is
        empty), for callers that choose by the overall trust alone.
        """
        with self._lock:
            try:
                known = self._key_rows(None if keys is None else set(keys))
            except sqlite3.Error as exc:
                raise TrustError(f"{self._name}: cannot read ({exc})") from None
        estimates: list[TrustEstimate] = []
        for group in self._ledger_groups(sorted(known), known):
            estimates.extend(self._estimated(group, steps))
        return estimates

    def _ledger_groups(self, chosen: list[TrustKey], known: dict[TrustKey, tuple[int, int]]
                       ) -> Iterator[list[tuple[TrustKey, "_Ledger"]]]:
        """The evidence of ``chosen`` (sorted) as ledgers, in groups of about ``POINTS_PER_PASS`` points: a run's
        close reads every key it touched, and ten thousand daily keys of ten years, read at once, would be
        gigabytes of points."""
        group: list[tuple[TrustKey, _Ledger]] = []
        points = 0
        for at in range(0, len(chosen), KEYS_PER_READ):
            part = chosen[at:at + KEYS_PER_READ]
            rows: dict[int, list[tuple]] = defaultdict(list)
            with self._lock:
                try:
                    for row in self._db.execute(
                            f"SELECT key_id, grid_window, origins, success, counted, targets "
                            f"FROM evidence_blocks WHERE key_id IN ({','.join('?' * len(part))})",
                            [known[key][0] for key in part]):
                        rows[row[0]].append(row[1:])
                except sqlite3.Error as exc:
                    raise TrustError(f"{self._name}: cannot read ({exc})") from None
            for key in part:
                key_id, horizon = known[key]
                if rows.get(key_id):
                    group.append((key, _Ledger.of(rows.pop(key_id), horizon, errors=False)))
                    points += group[-1][1].success.size
                if points >= POINTS_PER_PASS:
                    yield group
                    group, points = [], 0
        if group:
            yield group

    def _estimated(self, group: list[tuple[TrustKey, "_Ledger"]], with_steps: bool) -> list[TrustEstimate]:
        parts = self._posteriors([ledger for _, ledger in group], with_steps)
        overall = [p[0] for p in parts]
        low, high = beta_interval(np.array([p.alpha for p, _ in overall]), np.array([p.beta for p, _ in overall]))
        step_posts = [s for p in parts for s in p[1]]
        step_low, step_high = beta_interval(np.array([s.alpha for s, _ in step_posts]),
                                            np.array([s.beta for s, _ in step_posts]))
        estimates, at = [], 0
        for i, ((key, _), ((post, counts), steps)) in enumerate(zip(group, parts, strict=True)):
            step_trust = []
            for k, (step_post, step_counts) in enumerate(steps, start=1):
                step_trust.append(StepTrust(k, step_post.alpha / (step_post.alpha + step_post.beta),
                                            float(step_low[at]), float(step_high[at]), *step_counts))
                at += 1
            estimates.append(TrustEstimate(
                key=key, mean=post.alpha / (post.alpha + post.beta), low=float(low[i]), high=float(high[i]),
                alpha=post.alpha, beta=post.beta, successes=counts[0], failures=counts[1],
                origins=counts[2], windows=counts[3], design_effect=post.design_effect, steps=tuple(step_trust)))
        return estimates

    def _posteriors(self, ledgers: list["_Ledger"], with_steps: bool) -> list[tuple[tuple, list]]:
        """Per ledger, its overall posterior and counts (successes, failures, origins, windows) and, with
        ``with_steps``, each step's posterior and counts: the keys of one horizon in one vectorised pass."""
        out: list[tuple[tuple, list]] = [((None, ()), [])] * len(ledgers)
        by_horizon: dict[int, list[int]] = defaultdict(list)
        for i, ledger in enumerate(ledgers):
            by_horizon[ledger.success.shape[1]].append(i)
        prior = (self.prior_alpha, self.prior_beta)
        for horizon, members in by_horizon.items():
            group = [ledgers[i] for i in members]
            sizes = np.array([len(ledger.windows) for ledger in group])
            starts = np.cumsum(sizes) - sizes
            segment = np.repeat(np.arange(len(group)), sizes)
            rank = np.arange(len(segment)) - starts[segment]  # each origin's place among its key's
            window = np.concatenate([ledger.windows for ledger in group])
            success = np.concatenate([ledger.success for ledger in group])
            counted = np.concatenate([ledger.counted for ledger in group])
            age = np.concatenate([ledger.targets for ledger in group]) / NS_PER_DAY  # target days, then ages
            # the decay runs back from each key's newest counted target (its newest target if none counts)
            newest = np.maximum.reduceat(np.where(counted, age, -np.inf).max(axis=1), starts)
            newest = np.where(np.isfinite(newest), newest, np.maximum.reduceat(age.max(axis=1), starts))
            np.subtract(newest[segment][:, None], age, out=age)  # in place: a run's close holds millions
            weight = np.exp(np.multiply(age, -self._kappa, out=age), out=age)
            weighted_hits = np.where(success, weight, 0.0)
            # overall: an origin's counted points pooled into one row (a cluster holds whole origins)
            rows = counted.any(axis=1)
            overall = segmented_posteriors(
                np.where(counted, weighted_hits, 0.0).sum(axis=1)[rows][:, None],
                np.where(counted, weight, 0.0).sum(axis=1)[rows][:, None], window[rows], rank[rows], horizon,
                segment[rows], len(group), *prior)
            hits = np.bincount(segment, weights=(success & counted).sum(axis=1), minlength=len(group)).astype(np.int64)
            points = np.bincount(segment, weights=counted.sum(axis=1), minlength=len(group)).astype(np.int64)
            windows = distinct_counts(window, segment, len(group))
            if with_steps:
                step_posts = segmented_posteriors(weighted_hits, weight, window, rank, horizon, segment, len(group),
                                                  *prior)
                step_hits = np.add.reduceat(success, starts, axis=0, dtype=np.int64)
            for j, i in enumerate(members):
                n = int(sizes[j])
                steps = [] if not with_steps else [(post, (int(h), n - int(h)))
                                                   for post, h in zip(step_posts[j], step_hits[j], strict=True)]
                out[i] = ((overall[j][0], (int(hits[j]), int(points[j] - hits[j]), n, int(windows[j]))), steps)
        return out

    def forecast_errors(self, key: TrustKey) -> ForecastErrors:
        """Every stored origin's forecast errors of ``key``, oldest first: what intervals are calibrated on."""
        with self._lock:
            try:
                row = self._db.execute("SELECT key_id, horizon FROM trust_keys WHERE variable = ? AND spec = ? "
                                       "AND schedule = ? AND context = ?",
                                       (key.variable, key.spec, key.schedule, key.context)).fetchone()
                rows = [] if row is None else self._db.execute(
                    "SELECT grid_window, origins, success, counted, targets, errors FROM evidence_blocks "
                    "WHERE key_id = ?", (row[0],)).fetchall()
            except sqlite3.Error as exc:
                raise TrustError(f"{self._name}: cannot read ({exc})") from None
        ledger = _Ledger.of(rows, 0 if row is None else int(row[1]))
        return ForecastErrors(key=key, origins=ledger.origins, targets=ledger.targets, errors=ledger.errors,
                              counted=ledger.counted)

    def estimate(self, variable: str, spec: str) -> TrustEstimate | None:
        """The one estimate of (variable, spec); an error if several schedules or contexts hold one."""
        found = self.estimates(self.keys(variable=variable, spec=spec))
        if len(found) > 1:
            raise TrustError(f"{self._name} holds {len(found)} posteriors for {variable} / {spec} "
                             "(several schedules or contexts); use estimates(keys)")
        return found[0] if found else None

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> "OptimizedTrustTracker":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


@dataclass(frozen=True, eq=False)
class _Held:
    """A stored block as a transaction sees it: which origins it holds (its last names it in its key)."""

    origins: np.ndarray  # sorted int64
    lacks_errors: bool


def _fields(key: TrustKey) -> tuple[str, str, str, str]:
    return key.variable, key.spec, key.schedule, key.context


def _parts(rows: list, width: int) -> Iterable[list]:
    """``rows`` in slices that fit one query's parameters (``width`` each)."""
    step = max(1, ROWS_PER_QUERY * 4 // width)
    return (rows[at:at + step] for at in range(0, len(rows), step))


def _spans(blocks: list[EvidenceBlock]) -> list[tuple[int, int] | None]:
    """Each block's first and last origin if its origins are strictly increasing (None if not), worked out
    for the whole group at once."""
    sizes = np.array([len(block) for block in blocks])
    ends = np.cumsum(sizes)
    origins = np.concatenate([block.origins for block in blocks]).astype(np.int64, copy=False)
    falls = np.flatnonzero(np.diff(origins) <= 0) + 1  # positions not above the one before them
    falls = falls[~np.isin(falls, ends[:-1])]  # a block starting lower than the last one ended is fine
    unsorted = set(np.searchsorted(ends, falls, side="right").tolist())
    firsts, lasts = origins[ends - sizes].tolist(), origins[ends - 1].tolist()
    return [None if i in unsorted else (first, last)
            for i, (first, last) in enumerate(zip(firsts, lasts, strict=True))]


def _whole(owners: list[int], spans: list[tuple[int, int] | None], held: dict[int, list[_Held]]) -> list[int]:
    """The blocks (by their key ids, ``owners``) to store as they came: sorted, and overlapping no other block
    of their key, stored or in the group (so none can hold one of their origins)."""
    by_key: dict[int, list[int]] = defaultdict(list)
    for i, key_id in enumerate(owners):
        by_key[key_id].append(i)
    whole = []
    for key_id, indexes in by_key.items():
        if any(spans[i] is None for i in indexes):
            continue  # an unsorted block: the whole key goes one by one
        ordered = sorted(indexes, key=lambda i: spans[i])
        reach = -math.inf  # the latest last origin of the blocks before
        for at, i in enumerate(ordered):
            first, last = spans[i]
            clear = reach < first and (at == len(ordered) - 1 or spans[ordered[at + 1]][0] > last)
            reach = max(reach, last)
            if clear and not any(stored.origins[0] <= last and stored.origins[-1] >= first
                                 for stored in held[key_id]):
                whole.append(i)
    return whole


def _subset(block: EvidenceBlock, rows: np.ndarray) -> EvidenceBlock:
    """The block's origins at ``rows``, in that order."""
    return replace(block, origins=block.origins[rows], success=block.success[rows], counted=block.counted[rows],
                   targets=block.targets[rows], errors=None if block.errors is None else block.errors[rows])


def _sorted_once(origins: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """``origins`` sorted with each kept once (the first), and the rows they come from (None: all, in order)."""
    origins = origins.astype(np.int64, copy=False)
    if len(origins) < 2 or bool((origins[1:] > origins[:-1]).all()):
        return origins, None
    unique, first = np.unique(origins, return_index=True)
    return unique, first


@dataclass(frozen=True, eq=False)
class _Ledger:
    """One key's stored evidence as arrays, one row per origin, oldest first."""

    origins: np.ndarray  # (n,) int64
    windows: np.ndarray  # (n,) int64
    success: np.ndarray  # (n, horizon) bool
    counted: np.ndarray  # (n, horizon) bool
    targets: np.ndarray  # (n, horizon) int64
    errors: np.ndarray | None  # (n, horizon) float64, NaN where a block was kept without errors

    @classmethod
    def of(cls, rows: Sequence[tuple], horizon: int, *, errors: bool = True) -> "_Ledger":
        """From stored blocks (grid_window, origins, success, counted, targets[, errors]), in any order."""
        sizes = [len(r[1]) // 8 for r in rows]
        n = sum(sizes)
        origins = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.int64)
        order = np.argsort(origins, kind="stable")
        kept = None if not errors else np.frombuffer(b"".join(
            np.full((size, horizon), np.nan).tobytes() if r[5] is None else r[5]
            for r, size in zip(rows, sizes, strict=True)), dtype="<f8").reshape(n, horizon)[order]
        return cls(
            origins=origins[order],
            windows=np.repeat(np.array([r[0] for r in rows], dtype=np.int64), sizes)[order],
            success=unpack_bits(b"".join(r[2] for r in rows), n, horizon)[order],
            counted=unpack_bits(b"".join(r[3] for r in rows), n, horizon)[order],
            targets=np.frombuffer(b"".join(r[4] for r in rows), dtype=np.int64).reshape(n, horizon)[order],
            errors=kept)
