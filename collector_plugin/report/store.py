"""Where the hourly report aggregates live: one small interface, an in-memory store (tests) and SQLite (default).

Everything is an additive count keyed by hour (``int(event_time_s // 3600)``), so writes are upserts that add,
a restarted process continues the same rows, and a report for any past time can be computed from what is stored.
``prune`` deletes whole hours (counts, click grids, elements) older than the retention, then the element metadata no
remaining element row names (a report reads it only for elements it lists, and every click writes it again).
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Protocol

from ..log import get_logger

log = get_logger("report")

# What a store raises when its storage fails (disk full, I/O error, read-only file system, locked past the timeout):
# the aggregator keeps its increments and writes them at the next flush, instead of failing the pipeline's tick.
STORE_ERRORS = (sqlite3.Error, OSError)

# (service, hour, page, dim, value, metric) → n.  metric: "sessions", "aff:<kind>" (sessions affected), "ep:<kind>"
CountKey = tuple[str, int, str, str, str, str]
# (service, hour, page, dim, value, bx, by) → [clicks, rage, dead]   (fixed/sticky clicks are not in the grid)
CellKey = tuple[str, int, str, str, str, int, int]
# (service, hour, page, dim, value, kind, element) → n.  kind: a finding kind, "click", "fixed_click", "error_click", ...
ElementKey = tuple[str, int, str, str, str, str, str]


# A session's segments, ((dim, value), ...): every increment counts once for each of them.
Segments = tuple[tuple[str, str], ...]


@dataclass
class Batch:
    """One flush's increments, summed in dicts (cheap per tick), written in one transaction.

    Increments are keyed by the session's whole segment tuple in place of (dim, value) and fan out to one row per
    segment only when written (``count_rows`` …): a click is one dict update, not one per segment, and clicks of
    sessions with the same segments on the same cell are summed before they fan out."""

    counts: dict[tuple[str, int, str, Segments, str], int] = field(default_factory=lambda: defaultdict(int))
    cells: dict[tuple[str, int, str, Segments, int, int], list[int]] = field(default_factory=dict)
    elements: dict[tuple[str, int, str, Segments, str, str], int] = field(default_factory=lambda: defaultdict(int))
    meta: dict[tuple[str, str, str], tuple[str, int]] = field(default_factory=dict)  # (service, page, element) → (tag, interactive)

    def __bool__(self) -> bool:
        return bool(self.counts or self.cells or self.elements or self.meta)

    def cell(self, key: tuple[str, int, str, Segments, int, int], clicks: int = 0, rage: int = 0, dead: int = 0) -> None:
        c = self.cells.get(key)
        if c is None:
            self.cells[key] = [clicks, rage, dead]
        else:
            c[0] += clicks
            c[1] += rage
            c[2] += dead

    def count_rows(self) -> dict[CountKey, int]:
        out: dict[CountKey, int] = defaultdict(int)
        for (svc, h, page, segs, metric), n in self.counts.items():
            for dim, val in segs:
                out[(svc, h, page, dim, val, metric)] += n
        return out

    def cell_rows(self) -> dict[CellKey, list[int]]:
        out: dict[CellKey, list[int]] = {}
        for (svc, h, page, segs, bx, by), v in self.cells.items():
            for dim, val in segs:
                key = (svc, h, page, dim, val, bx, by)
                c = out.get(key)
                if c is None:
                    out[key] = v.copy()
                else:
                    c[0] += v[0]
                    c[1] += v[1]
                    c[2] += v[2]
        return out

    def element_rows(self) -> dict[ElementKey, int]:
        out: dict[ElementKey, int] = defaultdict(int)
        for (svc, h, page, segs, kind, element), n in self.elements.items():
            for dim, val in segs:
                out[(svc, h, page, dim, val, kind, element)] += n
        return out


class ReportStore(Protocol):
    def add(self, batch: Batch) -> None: ...

    def counts(self, hours: Iterable[int]) -> dict[tuple[str, str, str, str, str], int]:
        """(service, page, dim, value, metric) → n summed over ``hours``."""

    def cells(self, service: str, page: str, dim: str, value: str, hours: Iterable[int]) -> list[tuple[int, int, int, int, int]]:
        """(bx, by, clicks, rage, dead) summed over ``hours``."""

    def elements(self, service: str, page: str, dim: str, value: str, hours: Iterable[int]) -> dict[tuple[str, str], int]:
        """(kind, element) → n summed over ``hours``."""

    def meta(self) -> dict[tuple[str, str, str], tuple[str, int]]: ...

    def hour_range(self) -> tuple[int, int] | None: ...

    def prune(self, before_hour: int) -> dict[str, int]:
        """Delete the rows of every hour < ``before_hour``, then metadata of elements no element row names; returns
        rows deleted per table (counts, cells, elements, meta)."""

    def close(self) -> None: ...


class MemoryStore:
    def __init__(self) -> None:
        self._counts: dict[CountKey, int] = defaultdict(int)
        self._cells: dict[CellKey, list[int]] = {}
        self._elements: dict[ElementKey, int] = defaultdict(int)
        self._meta: dict[tuple[str, str, str], tuple[str, int]] = {}

    def add(self, batch: Batch) -> None:
        for k, n in batch.count_rows().items():
            self._counts[k] += n
        for k, v in batch.cell_rows().items():
            c = self._cells.setdefault(k, [0, 0, 0])
            for i in range(3):
                c[i] += v[i]
        for k, n in batch.element_rows().items():
            self._elements[k] += n
        self._meta.update(batch.meta)

    def counts(self, hours: Iterable[int]) -> dict:
        hs = set(hours)
        out: dict = defaultdict(int)
        for (svc, h, page, dim, val, metric), n in self._counts.items():
            if h in hs:
                out[(svc, page, dim, val, metric)] += n
        return dict(out)

    def cells(self, service, page, dim, value, hours) -> list:
        hs = set(hours)
        acc: dict = {}
        for (svc, h, p, d, v, bx, by), c in self._cells.items():
            if h in hs and svc == service and p == page and d == dim and v == value:
                a = acc.setdefault((bx, by), [0, 0, 0])
                for i in range(3):
                    a[i] += c[i]
        return [(bx, by, *c) for (bx, by), c in acc.items()]

    def elements(self, service, page, dim, value, hours) -> dict:
        hs = set(hours)
        out: dict = defaultdict(int)
        for (svc, h, p, d, v, kind, el), n in self._elements.items():
            if h in hs and svc == service and p == page and d == dim and v == value:
                out[(kind, el)] += n
        return dict(out)

    def meta(self) -> dict:
        return dict(self._meta)

    def hour_range(self) -> tuple[int, int] | None:
        hours = [k[1] for k in self._counts]
        return (min(hours), max(hours)) if hours else None

    def prune(self, before_hour: int) -> dict[str, int]:
        deleted = {}
        for table, rows in (("counts", self._counts), ("cells", self._cells), ("elements", self._elements)):
            old = [k for k in rows if k[1] < before_hour]
            for k in old:
                del rows[k]
            deleted[table] = len(old)
        named = {(svc, page, el) for (svc, _h, page, _d, _v, _kind, el) in self._elements}
        unnamed = [k for k in self._meta if k not in named]
        for k in unnamed:
            del self._meta[k]
        deleted["meta"] = len(unnamed)
        return deleted

    def close(self) -> None:
        pass


_SCHEMA = """
CREATE TABLE IF NOT EXISTS counts (service TEXT, hour INTEGER, page TEXT, dim TEXT, value TEXT, metric TEXT, n INTEGER,
                                   PRIMARY KEY (hour, service, page, dim, value, metric)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS cells (service TEXT, hour INTEGER, page TEXT, dim TEXT, value TEXT, bx INTEGER, by INTEGER,
                                  clicks INTEGER, rage INTEGER, dead INTEGER,
                                  PRIMARY KEY (service, page, dim, value, hour, bx, by)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS elements (service TEXT, hour INTEGER, page TEXT, dim TEXT, value TEXT, kind TEXT, element TEXT, n INTEGER,
                                     PRIMARY KEY (service, page, dim, value, hour, kind, element)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (service TEXT, page TEXT, element TEXT, tag TEXT, interactive INTEGER,
                                 PRIMARY KEY (service, page, element)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS cells_hour ON cells (hour);
CREATE INDEX IF NOT EXISTS elements_hour ON elements (hour);
CREATE INDEX IF NOT EXISTS elements_element ON elements (service, page, element);
"""  # counts' key starts with the hour; the hour indexes let prune delete old hours without scanning cells and elements,
# and the element index lets it find metadata no element row names without scanning a page's elements per row


class SqliteStore:
    """Embedded default: one local file, WAL, one transaction per flush. Safe to share between the pipeline thread and
    a report request (one connection behind a lock)."""

    def __init__(self, path: str | Path):
        path = Path(path).expanduser()
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, timeout=30, isolation_level=None)
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
        except BaseException:
            self._db.close()
            raise

    def add(self, batch: Batch) -> None:
        if not batch:
            return
        with self._lock:
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                db.executemany("INSERT INTO counts VALUES (?,?,?,?,?,?,?) ON CONFLICT DO UPDATE SET n = n + excluded.n",
                               [(*k, n) for k, n in batch.count_rows().items()])
                db.executemany("INSERT INTO cells VALUES (?,?,?,?,?,?,?,?,?,?) ON CONFLICT DO UPDATE SET clicks = clicks + excluded.clicks, "
                               "rage = rage + excluded.rage, dead = dead + excluded.dead",
                               [(*k, *v) for k, v in batch.cell_rows().items()])
                db.executemany("INSERT INTO elements VALUES (?,?,?,?,?,?,?,?) ON CONFLICT DO UPDATE SET n = n + excluded.n",
                               [(*k, n) for k, n in batch.element_rows().items()])
                db.executemany("INSERT INTO meta VALUES (?,?,?,?,?) ON CONFLICT DO UPDATE SET tag = excluded.tag, interactive = excluded.interactive",
                               [(*k, *v) for k, v in batch.meta.items()])
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise

    def _query(self, sql: str, args: tuple) -> list:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    @staticmethod
    def _range(hours: Iterable[int]) -> tuple[str, tuple]:
        hs = sorted(set(hours))
        return ",".join("?" * len(hs)), tuple(hs)

    def counts(self, hours) -> dict:
        marks, hs = self._range(hours)
        if not hs:
            return {}
        rows = self._query(f"SELECT service, page, dim, value, metric, SUM(n) FROM counts WHERE hour IN ({marks}) "
                           "GROUP BY service, page, dim, value, metric", hs)
        return {tuple(r[:5]): r[5] for r in rows}

    def cells(self, service, page, dim, value, hours) -> list:
        marks, hs = self._range(hours)
        if not hs:
            return []
        return self._query(f"SELECT bx, by, SUM(clicks), SUM(rage), SUM(dead) FROM cells WHERE service=? AND page=? AND dim=? AND value=? "
                           f"AND hour IN ({marks}) GROUP BY bx, by", (service, page, dim, value, *hs))

    def elements(self, service, page, dim, value, hours) -> dict:
        marks, hs = self._range(hours)
        if not hs:
            return {}
        rows = self._query(f"SELECT kind, element, SUM(n) FROM elements WHERE service=? AND page=? AND dim=? AND value=? "
                           f"AND hour IN ({marks}) GROUP BY kind, element", (service, page, dim, value, *hs))
        return {(r[0], r[1]): r[2] for r in rows}

    def meta(self) -> dict:
        return {(r[0], r[1], r[2]): (r[3], r[4]) for r in self._query("SELECT * FROM meta", ())}

    def hour_range(self) -> tuple[int, int] | None:
        row = self._query("SELECT MIN(hour), MAX(hour) FROM counts", ())[0]
        return None if row[0] is None else (row[0], row[1])

    def prune(self, before_hour: int) -> dict[str, int]:
        deleted = {}
        with self._lock:
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                for table in ("counts", "cells", "elements"):
                    deleted[table] = db.execute(f"DELETE FROM {table} WHERE hour < ?", (before_hour,)).rowcount
                deleted["meta"] = db.execute(
                    "DELETE FROM meta WHERE NOT EXISTS (SELECT 1 FROM elements e WHERE e.service = meta.service "
                    "AND e.page = meta.page AND e.element = meta.element)").rowcount
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        return deleted

    def close(self) -> None:
        with self._lock:
            self._db.close()


def open_store(path: str | Path | None) -> ReportStore:
    """A damaged SQLite file is moved aside and a new store started: the hourly aggregates are history the report can
    do without for a while, and refusing to start would stop sessions, metrics and spans at every restart. A path that
    can't be opened or written is a configuration error and raises."""
    if path is None:
        return MemoryStore()
    try:
        return SqliteStore(path)
    except sqlite3.DatabaseError as exc:
        if isinstance(exc, sqlite3.OperationalError):  # can't open, create or write (a directory, no permission)
            raise OSError(f"the report store {path} can't be opened: {exc}") from exc
        path = Path(path).expanduser()
        aside = path.with_name(path.name + ".unreadable")
        os.replace(path, aside)
        for journal in (path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            journal.unlink(missing_ok=True)  # they belong to the damaged file
        log.error("report store unreadable: moved aside, starting an empty one",
                  extra={"path": str(path), "moved_to": str(aside), "error": f"{type(exc).__name__}: {exc}"})
        return SqliteStore(path)
