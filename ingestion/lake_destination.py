"""The Spark target's raw zone: dlt's `filesystem` destination, every file written whole.

dlt writes a load's files into the lake in place: the Parquet files, then its records as
small JSON files (the pipeline state, the schema version, the load). On a local or mounted
filesystem a run killed mid-write leaves a file empty or cut short. An empty state file is
the newest state the next run syncs back from the lake (a stateless job has nothing else), and
it and every run after it stop on it; a cut Parquet file fails every Spark query over its
day. So here each file is written beside its final name and renamed into place: a reader,
dlt's sync or Spark's tables, sees the whole file or none. The temporary name starts with a
dot, which both dlt's listing and Spark's file index skip. An object store's put is whole
already.
"""

from __future__ import annotations

import posixpath
import uuid
from collections.abc import Callable
from typing import Any

from dlt.destinations import filesystem
from dlt.destinations.impl.filesystem.filesystem import FilesystemClient
from fsspec.implementations.local import LocalFileSystem


class WholeFiles(LocalFileSystem):
    """A local filesystem whose file writes land whole, by a rename, or not at all."""

    def put_file(self, path1: str, path2: str, callback: Any = None, **kwargs: Any) -> None:
        put = super().put_file
        self._whole(path2, lambda staged: put(path1, staged, callback, **kwargs))

    def write_text(self, path: str, value: str, *args: Any, **kwargs: Any) -> None:
        write = super().write_text
        self._whole(path, lambda staged: write(staged, value, *args, **kwargs))

    def _whole(self, path: str, write: Callable[[str], object]) -> None:
        path = self._strip_protocol(path)
        folder, name = posixpath.split(path)
        staged = posixpath.join(folder, f".{name}.{uuid.uuid4().hex}.tmp")
        try:
            write(staged)
            self.mv(staged, path)
        finally:
            if self.exists(staged):
                self.rm_file(staged)


class LakeClient(FilesystemClient):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if type(self.fs_client) is LocalFileSystem:
            self.fs_client = WholeFiles(**self.fs_client.storage_options)


class lake(filesystem):
    """dlt's `filesystem` destination with the client above (lowercase, as dlt names its
    destination factories)."""

    @property
    def client_class(self) -> type[FilesystemClient]:
        return LakeClient
