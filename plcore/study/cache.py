"""A verified store of finished sweep points: one CSV per point, named after its own checksum.

A point is saved as ``<key>.<sha256>.csv``, where ``<sha256>`` is the hex digest of the file's
bytes. The data is written to a unique temporary file in the same folder, flushed with ``fsync``
and renamed into place with ``os.replace`` (then the folder is synced too), so the rename is the
only commit: a file under its final name is complete, and writers of the same point never share a
temporary file. Because the checksum is the name, a point and its checksum are committed together
in that one rename; a separate checksum file could be paired with another writer's data.

:func:`load` reads a file's bytes once, hashes them and returns them only if the digest matches
the name; the caller parses those same bytes. A file that does not match (truncated, edited,
overwritten) or cannot be read, and anything under a point's name that is not a regular file (a
folder, a named pipe, a socket, a device, a symbolic link, dangling or not: the cache never makes
one), is reported on stderr in one line naming it, removed, and treated as absent, so the caller
computes the point again. A point's name is opened without following a link and without waiting
for a writer, so no such entry can hang a sweep.

**Temporary files.** A temporary is named ``.<key>.<host>.<pid>.<random>.tmp``, after the host
and the process writing it. A sweep that is killed (Ctrl-C, SIGKILL) while it writes leaves its
temporary behind; :func:`load` removes such a stale temporary, silently, when either

- its writer, named in its name, ran on this host and no longer exists, or
- it was last modified more than :data:`STALE_TEMPORARY_S` ago (one hour: a point is written in
  one go and synced, in seconds; this also covers writers on other hosts sharing the folder, and
  temporaries in an older naming).

A temporary that another sweep sharing the folder is writing right now meets neither rule. (A
writer in another pid namespace under the same host name, as in containers sharing a folder and a
host name, could be taken for gone: give such containers host names of their own.)

**Faults.** A point that cannot be written (a full disk, a file-size limit, a folder that became
read-only) raises :class:`plcore.errors.SweepError`, one line naming the cache folder; its
temporary is removed and the points committed before stay valid.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import socket
import stat
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterable

from ..errors import SweepError

__all__ = ["save", "load", "STALE_TEMPORARY_S"]

_NAME = re.compile(r"^(?P<key>[0-9a-f]+)\.(?P<sha256>[0-9a-f]{64})\.csv$")
# mkstemp's random part is made of letters, digits and "_"; host and pid are absent in temporaries
# of an older naming (".<key>.<random>.tmp").
_TEMPORARY = re.compile(r"^\.[0-9a-f]+\.(?:(?P<host>[A-Za-z0-9-]+)\.(?P<pid>[0-9]{1,10})\.)?"
                        r"[A-Za-z0-9_]+\.tmp$")
#: Age (seconds since the last write) beyond which any temporary file is stale.
STALE_TEMPORARY_S = 3600.0
# Open a point without following a symbolic link, and without blocking on a named pipe.
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)


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

    Raises
    ------
    plcore.errors.SweepError
        The point cannot be written (``OSError``: a full disk, a file-size limit, no permission);
        the message is one line naming ``directory``. No temporary file is left behind.

    Notes
    -----
    Time and disk writes O(len(data)), plus two ``fsync`` calls.
    """
    path = directory / f"{key}.{hashlib.sha256(data).hexdigest()}.csv"
    try:
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{key}.{_HOST}.{os.getpid()}.",
                                   suffix=".tmp")
    except OSError as e:
        raise _unwritable(directory, e) from e
    try:
        # mkstemp makes the file private (0600); give it the read/write bits of its folder, as a
        # plain open() under the same umask would have.
        os.fchmod(fd, os.stat(directory).st_mode & 0o666)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())   # the bytes reach the disk before the name does
        os.replace(tmp, path)
        _fsync_directory(directory)    # and the rename itself survives a crash
    except BaseException as e:
        try:
            os.unlink(tmp)
        except OSError:            # renamed already (the folder's sync failed), or gone
            pass
        if isinstance(e, OSError):
            raise _unwritable(directory, e) from e
        raise
    return path


def load(directory: Path, keys: Iterable[str]) -> dict[str, bytes]:
    """The verified bytes of every point of ``keys`` that ``directory`` holds.

    Stale temporary files (see the module's notes) are removed on the way.

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
        first by name is taken. Files that fail the check, and entries that are not regular files,
        are reported and removed.

    Raises
    ------
    plcore.errors.SweepError
        The folder exists but cannot be listed (no permission, an I/O error).

    Notes
    -----
    Time O(n log n) in the folder's n entries, plus reading the candidate files once.
    """
    wanted = set(keys)
    candidates: dict[str, list[tuple[str, Path]]] = {}
    try:
        entries = sorted(os.scandir(directory), key=lambda e: e.name)
    except FileNotFoundError:
        return {}
    except OSError as e:
        raise SweepError(f"cannot read the sweep cache {directory}: {e.strerror or e}") from e
    now = time.time()
    for entry in entries:
        match = _NAME.match(entry.name)
        if match and match["key"] in wanted:
            candidates.setdefault(match["key"], []).append((match["sha256"], Path(entry.path)))
        elif _TEMPORARY.match(entry.name):
            _remove_if_stale(entry, now)
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
        kind = _not_a_file(path, os.lstat(path))
        if kind:
            _discard(path, kind)
            return None
        fd = os.open(path, _OPEN_FLAGS)
        with os.fdopen(fd, "rb") as f:
            # Replaced between the look and the open (a named pipe opens without blocking).
            kind = _not_a_file(path, os.fstat(f.fileno()))
            data = None if kind else f.read()
    except FileNotFoundError:
        return None                # removed meanwhile by another sweep that found it bad
    except OSError as e:
        _discard(path, f"unreadable ({e.strerror or e})")
        return None
    if data is None:
        _discard(path, kind)
        return None
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected:
        _discard(path, f"content does not match its checksum ({len(data)} bytes with sha256 "
                       f"{actual[:12]}..., expected {expected[:12]}...)")
        return None
    return data


def _not_a_file(path: Path, st: os.stat_result) -> str:
    """What ``path`` is instead of a regular file ("" if it is one), from its ``lstat``."""
    mode = st.st_mode
    if stat.S_ISREG(mode):
        return ""
    if stat.S_ISLNK(mode):
        try:
            target = os.readlink(path)
        except OSError:
            target = "?"
        dangling = "" if os.path.exists(path) else " that does not exist"
        return f"a symbolic link to {target!r}{dangling}, not a file"
    kinds = [(stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a named pipe"),
             (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
             (stat.S_ISBLK, "a block device")]
    return next((name for test, name in kinds if test(mode)), "not a regular file") + \
        ", not a file"


def _discard(path: Path, problem: str) -> None:
    try:
        if stat.S_ISDIR(os.lstat(path).st_mode):
            shutil.rmtree(path)    # named as a point of this cache: nothing of anyone else's
        else:
            os.unlink(path)
        done = "removed"
    except FileNotFoundError:
        done = "removed meanwhile"
    except OSError as e:           # no permission, say: never used, and reported again next time
        done = f"not removed ({e.strerror or e})"
    print(f"plcore sweep cache: {path}: {problem}; {done}, the point is computed again",
          file=sys.stderr, flush=True)


def _remove_if_stale(entry: os.DirEntry, now: float) -> None:
    """Remove the temporary ``entry`` if its writer is gone or it is older than an hour."""
    match = _TEMPORARY.match(entry.name)
    try:
        age = now - entry.stat(follow_symlinks=False).st_mtime
    except OSError:
        return                     # gone meanwhile (its writer renamed it)
    writer_gone = (match["host"] == _HOST and match["pid"] is not None
                   and not _alive(int(match["pid"])))
    if age > STALE_TEMPORARY_S or writer_gone:
        try:
            os.unlink(entry.path)
        except OSError:            # renamed or removed meanwhile; a folder: not ours to clear
            pass


def _alive(pid: int) -> bool:
    """Whether a process ``pid`` runs on this host (True where that cannot be told)."""
    if os.name != "posix" or pid <= 0:
        return True                # Windows' os.kill(pid, 0) would end the process
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:        # another user's process
        pass
    except OverflowError:          # a pid beyond the range: not one of ours
        return True
    # A zombie (ended, not yet reaped: a killed worker whose parent is gone too, where no init
    # process reaps orphans) writes nothing more. Its state follows the name in parentheses.
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (OSError, IndexError):  # no /proc (macOS), or gone meanwhile
        return True


def _host_name() -> str:
    """This host's name in the letters a temporary's name may hold (``.`` would split it)."""
    return re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())[:64] or "host"


_HOST = _host_name()


def _unwritable(directory: Path, error: OSError) -> SweepError:
    return SweepError(f"cannot write to the sweep cache {directory}: {error.strerror or error}; "
                      f"the points finished before are kept there")


def _fsync_directory(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return                     # platforms that cannot open a folder (Windows) cannot sync it
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
