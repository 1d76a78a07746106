"""A version's artifacts as one zip, streamed: model, schema, metadata and extra JSON files."""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from typing import IO

from dsba.errors import NotFound
from dsba.registry.model_registry import ModelRegistry

CHUNK = 1 << 20


class _Sink:
    """A write-only stream that keeps what was written until it is taken."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def write(self, data: bytes) -> int:
        self.parts.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        """Nothing to flush: the parts are taken by the generator."""

    def take(self) -> bytes:
        data = b"".join(self.parts)
        self.parts.clear()
        return data


def _stream(folder: str, handles: dict[str, IO[bytes]]) -> Iterator[bytes]:
    sink = _Sink()
    try:
        # Not seekable: zipfile writes each member's sizes after its data, so nothing is held.
        with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for filename, handle in handles.items():
                with archive.open(f"{folder}/{filename}", "w") as member:
                    while block := handle.read(CHUNK):
                        member.write(block)
                        if data := sink.take():
                            yield data
        yield sink.take()
    finally:
        for handle in handles.values():
            handle.close()


def version_archive(registry: ModelRegistry, ref: str) -> tuple[str, Iterator[bytes]]:
    """The zip's file name and its bytes in chunks, for the version a reference points at."""
    name, version = registry.resolve(ref)
    files = registry.version_files(name, version)
    # Opened before the first byte goes out: a deletion during the download cannot cut it.
    handles: dict[str, IO[bytes]] = {}
    try:
        for filename, path in files.items():
            handles[filename] = open(path, "rb")  # noqa: SIM115 (closed by the stream)
    except FileNotFoundError as exc:
        for handle in handles.values():
            handle.close()
        raise NotFound(f"model {name}:{version} was deleted") from exc
    folder = f"{name}-v{version}"
    return f"{folder}.zip", _stream(folder, handles)
