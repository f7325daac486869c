"""A verified store of finished sweep points: one CSV per point, named after its own checksum.

A point is saved as ``<key>.<sha256>.csv``, where ``<sha256>`` is the hex digest of the file's
bytes. The data is written to a unique temporary file in the same folder, flushed with ``fsync``
and renamed into place with ``os.replace`` (then the folder is synced too), so the rename is the
only commit: a file under its final name is complete, and writers of the same point never share a
temporary file. Because the checksum is the name, a point and its checksum are committed together
in that one rename; a separate checksum file could be paired with another writer's data.

:func:`load` reads a file's bytes once, hashes them and returns them only if the digest matches
the name; the caller parses those same bytes. A file that does not match (truncated, edited,
overwritten) or cannot be read is reported on stderr in one line, removed, and treated as absent,
so the caller computes the point again.
"""

from __future__ import annotations

import hashlib
import os
import re
import sys
import tempfile
from pathlib import Path
from typing import Iterable

__all__ = ["save", "load"]

_NAME = re.compile(r"^(?P<key>[0-9a-f]+)\.(?P<sha256>[0-9a-f]{64})\.csv$")


def save(directory: Path, key: str, data: bytes) -> Path:
    """Commit ``data`` as the point ``key`` in ``directory``; return the file's path.

    Parameters
    ----------
    directory : pathlib.Path
        An existing folder (the sweep's cache).
    key : str
        The point's key (lower-case hex).
    data : bytes
        The point's CSV.

    Returns
    -------
    pathlib.Path
        ``directory / f"{key}.{sha256(data)}.csv"``. Several writers may save the same point at
        once: each renames its own temporary file, and every name that results is complete.
    """
    path = directory / f"{key}.{hashlib.sha256(data).hexdigest()}.csv"
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{key}.", suffix=".tmp")
    try:
        # mkstemp makes the file private (0600); give it the read/write bits of its folder, as a
        # plain open() under the same umask would have.
        os.fchmod(fd, os.stat(directory).st_mode & 0o666)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())   # the bytes reach the disk before the name does
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    _fsync_directory(directory)    # and the rename itself survives a crash
    return path


def load(directory: Path, keys: Iterable[str]) -> dict[str, bytes]:
    """The verified bytes of every point of ``keys`` that ``directory`` holds.

    Parameters
    ----------
    directory : pathlib.Path
        The sweep's cache folder.
    keys : iterable of str
        The points wanted.

    Returns
    -------
    dict
        ``key -> bytes`` for the points with a file whose sha256 matches its name. Where several
        good files hold one point (concurrent writers of a point that is not deterministic), the
        first by name is taken. Files that fail the check are reported and removed.
    """
    wanted = set(keys)
    candidates: dict[str, list[tuple[str, Path]]] = {}
    try:
        entries = sorted(os.scandir(directory), key=lambda e: e.name)
    except FileNotFoundError:
        return {}
    for entry in entries:
        match = _NAME.match(entry.name)
        if match and match["key"] in wanted:
            candidates.setdefault(match["key"], []).append((match["sha256"], Path(entry.path)))
    found = {}
    for key, files in candidates.items():
        for expected, path in files:
            data = _verified(path, expected)
            if data is not None:
                found[key] = data
                break
    return found


def _verified(path: Path, expected: str) -> bytes | None:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None                # removed meanwhile by another sweep that found it bad
    except OSError as e:
        _discard(path, f"unreadable ({e.strerror or e})")
        return None
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected:
        _discard(path, f"content does not match its checksum ({len(data)} bytes with sha256 "
                       f"{actual[:12]}..., expected {expected[:12]}...)")
        return None
    return data


def _discard(path: Path, problem: str) -> None:
    try:
        os.unlink(path)
        done = "removed"
    except FileNotFoundError:
        done = "removed meanwhile"
    except OSError as e:           # not a file, say: never used, and reported again next time
        done = f"not removed ({e.strerror or e})"
    print(f"plcore sweep cache: {path}: {problem}; {done}, the point is computed again",
          file=sys.stderr, flush=True)


def _fsync_directory(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return                     # platforms that cannot open a folder (Windows) cannot sync it
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
