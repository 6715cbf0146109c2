"""Rejected rows that heal themselves.

A row that cannot be loaded (a timestamp that does not parse, a number that does not fit its
column) goes to `<table>__rejected`, and the cursor moves on: holding it back would re-read
everything behind the row on every run. Instead its key is remembered in the resource's
state, committed with the load, and the next runs fetch that one row again by its key
(`GET /v1/<table>/<key>`): a row that was corrupted in transit, or fixed upstream since, then
loads, and its reject is deleted. After `reject_retries` failed re-fetches the reject is
marked `persistent`, with the reason, the payload as served, and the window of changes to
reload (`python -m ingestion run --start ... --end ...`) once the upstream is fixed.

The reject table is merged on `reject_key` (the row's key; a hash of the payload for a row
without one, which cannot be fetched again), so a reject is stored once however often it
recurs.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import dlt
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from ingestion.arrow_pages import TIMESTAMP, PageConverter
from ingestion.parallel import Task, TaskPool, TasksFailed
from ingestion.shop_api.endpoints import EndpointSpec
from ingestion.shop_api.fetch import Rows, ShopApiFetcher

logger = logging.getLogger("ingestion")

RETRYING, PERSISTENT = "retrying", "persistent"
REFETCH = "__refetch"  # suffix of the resource that fetches an endpoint's rejects again
RETRYING_STATE = "rejects_retrying"  # in that resource's state: key -> failed fetches
REJECT_SCHEMA = pa.schema(
    [
        ("reject_key", pa.string()),
        ("updated_at", TIMESTAMP),  # null: what was served is in `record`
        ("reason", pa.string()),
        ("record", pa.string()),
        ("status", pa.string()),
        ("attempts", pa.int64()),
        ("reload_since", TIMESTAMP),
        ("reload_before", TIMESTAMP),
        ("healed", pa.bool_()),  # true: the row loaded since; dlt deletes its reject
    ]
)


def reject_table(table: pa.Table, spec: EndpointSpec) -> Any:
    """Rows for `<table>__rejected`, whatever the resource's own hints."""
    hints = dlt.mark.make_hints(
        table_name=f"{spec.name}__rejected",
        write_disposition="merge",
        primary_key="reject_key",
        columns=[{"name": "healed", "data_type": "bool", "nullable": True, "hard_delete": True}],
    )
    return dlt.mark.with_hints(table, hints, create_table_variant=True)


@dataclass
class RejectLedger:
    """One endpoint's rejects by key, in the state of its refetch resource: the ones still
    retrying and the ones given up, each with its failed fetches by key; and what this run did
    about them. A key leaves the ledger, and its reject the table, whenever its row loads:
    fetched by key, or re-read."""

    spec: EndpointSpec
    retrying: dict[str, int]
    given_up: dict[str, int]
    max_retries: int
    healed: int = 0  # rejects resolved this run
    refetched: int = 0  # rows loaded from fetches by key
    persistent: int = 0  # rejects given up (or unfetchable) this run

    @classmethod
    def from_state(cls, spec: EndpointSpec, max_retries: int) -> RejectLedger:
        state = dlt.current.resource_state(f"{spec.name}{REFETCH}")
        retrying = state.setdefault(RETRYING_STATE, {})
        return cls(spec, retrying, state.setdefault("rejects_given_up", {}), max_retries)

    def rejected(self, bad: pa.Table, since: datetime | None, before: datetime | None) -> Any:
        """This run's new rejects, remembered for a re-fetch when they have a key."""
        records = bad["record"].to_pylist()
        keys = [self._key(record) for record in records]
        attempts, status = [], []
        for key, fetchable in keys:
            if key in self.given_up or not fetchable:
                attempts.append(self.given_up.get(key, 0))
                status.append(PERSISTENT)
            else:
                attempts.append(self.retrying.setdefault(key, 0))
                status.append(RETRYING)
        self.persistent += status.count(PERSISTENT)
        reasons = bad["reason"].to_pylist()
        return self._rows([k for k, _ in keys], reasons, records, status, attempts, since, before)

    def loaded(self, rows: pa.Table) -> Iterator[Any]:
        """Deletes for the rejects whose rows just loaded (re-read, or changed upstream)."""
        if not self.retrying and not self.given_up:
            return
        known = pa.array([*self.retrying, *self.given_up], pa.string())
        found = rows.filter(pc.is_in(rows[self.spec.primary_key], value_set=known))
        for key in found[self.spec.primary_key].to_pylist():
            was_retrying = self.retrying.pop(key, None) is not None
            if self.given_up.pop(key, None) is not None or was_retrying:
                self.healed += 1
                yield self._tombstone(key)

    def heal(self, fetcher: ShopApiFetcher, converter: PageConverter) -> Iterator[Any]:
        """Fetch the keys still retrying again: rows that load now, and the other rejects
        updated (given up after `max_retries` failures)."""
        if not self.retrying:
            return

        def fetch(key: str) -> Task[tuple[str, Rows]]:
            return Task(lambda: ((key, fetcher.row(self.spec, key)), []), key)

        keys = list(self.retrying)
        try:
            yield from self._settle(
                TaskPool[tuple[str, Rows]](fetcher.workers).run(map(fetch, keys)), converter
            )
        except TasksFailed as failure:
            raise failure.cause from None

    def _settle(
        self, results: Iterator[tuple[str, Rows]], converter: PageConverter
    ) -> Iterator[Any]:
        """Each key's row as fetched again: loaded, or its reject updated."""
        for key, rows in results:
            good, bad = converter.convert(rows) if rows else (None, None)
            if good is not None and good.num_rows:
                self.refetched += good.num_rows
                yield good
                yield from self.loaded(good)
            if key not in self.retrying:
                continue
            # No row at all: the upstream has no such key, nothing to wait for.
            attempts = self.retrying[key] + 1 if rows else self.max_retries
            reason = bad["reason"][0].as_py() if bad is not None else "no longer served upstream"
            record = bad["record"][0].as_py() if bad is not None else "null"
            status = PERSISTENT if attempts >= self.max_retries else RETRYING
            if status == PERSISTENT:
                del self.retrying[key]
                self.given_up[key] = attempts
                self.persistent += 1
                logger.warning(
                    "%s: %s=%r still cannot be loaded after %d fetches by key (%s): kept in "
                    "%s__rejected; reload it with --start/--end once the upstream is fixed",
                    self.spec.name,
                    self.spec.primary_key,
                    key,
                    attempts,
                    reason,
                    self.spec.name,
                )
            else:
                self.retrying[key] = attempts
            yield self._rows([key], [reason], [record], [status], [attempts], None, None)

    def _key(self, record: str) -> tuple[str, bool]:
        """The rejected row's key (and True) or, without one, a hash of it (and False)."""
        try:
            value = orjson.loads(record).get(self.spec.primary_key)
        except (orjson.JSONDecodeError, AttributeError):
            value = None
        if isinstance(value, str) and value:
            return value, True
        return "record:" + hashlib.sha1(record.encode()).hexdigest(), False

    def _rows(
        self,
        keys: list[str],
        reasons: list[str],
        records: list[str],
        status: list[str],
        attempts: list[int],
        since: datetime | None,
        before: datetime | None,
    ) -> Any:
        n = len(keys)
        columns = {
            "reject_key": pa.array(keys, pa.string()),
            "updated_at": pa.nulls(n, TIMESTAMP),
            "reason": pa.array(reasons, pa.string()),
            "record": pa.array(records, pa.string()),
            "status": pa.array(status, pa.string()),
            "attempts": pa.array(attempts, pa.int64()),
            "reload_since": pa.array([since] * n, TIMESTAMP),
            "reload_before": pa.array([before] * n, TIMESTAMP),
            "healed": pa.array([False] * n, pa.bool_()),
        }
        return reject_table(pa.table(columns, schema=REJECT_SCHEMA), self.spec)

    def _tombstone(self, key: str) -> Any:
        row = {name: [None] for name in REJECT_SCHEMA.names}
        row.update(reject_key=[key], healed=[True])
        return reject_table(pa.table(row, schema=REJECT_SCHEMA), self.spec)
