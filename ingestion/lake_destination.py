"""The Spark target's raw zone: dlt's `filesystem` destination, its bookkeeping written whole.

dlt records a load in the lake as small JSON files: the pipeline state, the schema version and
the load record. It writes them in place, and on a local or mounted filesystem a run killed
mid-write leaves a file empty or cut short. The next run syncs the newest state file back from
the lake (a stateless job has nothing else) and stops on it, as does every run after it. So
here each one is written beside its final name and renamed into place: a reader, dlt's sync or
Spark's tables, sees the whole file or none. The temporary name starts with a dot, which both
dlt's listing and Spark's file index skip. An object store's put is whole already.
"""

from __future__ import annotations

import posixpath
import uuid
from typing import Any

from dlt.common import json
from dlt.destinations import filesystem
from dlt.destinations.impl.filesystem.filesystem import FilesystemClient


class LakeClient(FilesystemClient):
    def _write_to_json_file(self, filepath: str, data: dict[str, Any]) -> None:
        protocols = self.fs_client.protocol
        if "file" not in (protocols if isinstance(protocols, tuple) else (protocols,)):
            super()._write_to_json_file(filepath, data)
            return
        folder, name = posixpath.split(filepath)
        staged = posixpath.join(folder, f".{name}.{uuid.uuid4().hex}.tmp")
        self.fs_client.write_text(staged, json.dumps(data), encoding="utf-8")
        try:
            self.fs_client.mv(staged, filepath)
        finally:
            if self.fs_client.exists(staged):
                self.fs_client.rm_file(staged)


class lake(filesystem):
    """dlt's `filesystem` destination with the client above (lowercase, as dlt names its
    destination factories)."""

    @property
    def client_class(self) -> type[FilesystemClient]:
        return LakeClient
