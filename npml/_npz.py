"""Saving and loading arrays as ``.npz``: atomic, pickle-free, with errors that name the file.

A write goes to a temporary file beside the target, is flushed to disk, and is renamed into
place, so a crash never leaves a half-written file under the target's name and a previous
good file survives a failed write. Loading never unpickles (``allow_pickle=False``) and
reports a truncated, corrupted or foreign file as a ``ValueError`` naming the path.

This module imports nothing of npml (ground floor); ``npml.nn`` re-exports both functions.
"""

from __future__ import annotations

import os
import secrets
import stat
import zipfile
import zlib
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from numpy.lib import format as npy_format


def save_npz(path: str | os.PathLike[str], arrays: Mapping[str, np.ndarray]) -> None:
    """Save ``arrays`` to ``path`` as an uncompressed ``.npz``, atomically and durably.

    The archive is written to a temporary file in the destination's directory, flushed to
    disk (``fsync``) and renamed over the destination, whose directory is then synced too;
    a crash or an error leaves either the previous file or the new one under ``path``,
    never a half-written one, and no temporary file behind.

    * A new file gets the permissions a plain ``open(path, "w")`` would give
      (``0o666`` less the umask); an existing file keeps its own.
    * If ``path`` is a symbolic link, the file it points to is replaced, not the link.
    * Any ``str`` key round-trips (``"file"`` and ``"allow_pickle"`` included: members are
      written with :mod:`numpy.lib.format` directly, not through ``np.savez``'s keywords).

    Parameters
    ----------
    path : str or os.PathLike
        Must end in ``.npz``.
    arrays : mapping of str to array_like
        Numeric arrays (no object dtype: nothing is pickled).
    """
    path = Path(path)
    if path.suffix != ".npz":
        raise ValueError(f"path={str(path)!r}; expected a file name ending in .npz")
    if not isinstance(arrays, Mapping):
        raise TypeError(f"arrays of type {type(arrays).__name__}; expected a mapping")
    members = {}
    for key, value in arrays.items():
        if not isinstance(key, str):
            raise TypeError(f"arrays has key {key!r} of type {type(key).__name__}; expected str")
        if "\x00" in key:
            raise ValueError(f"arrays has key {key!r} containing a NUL character")
        arr = np.asarray(value)
        if arr.dtype.hasobject:
            raise TypeError(f"arrays[{key!r}] has dtype object; only numeric arrays are saved")
        members[key + ".npy"] = arr
    target = Path(os.path.realpath(path))  # through symlinks: replace the file, keep the link
    fd, tmp = _create_temp(target)
    try:
        with os.fdopen(fd, "wb") as fh:
            with zipfile.ZipFile(fh, "w", compression=zipfile.ZIP_STORED) as zf:
                for member, arr in members.items():
                    with zf.open(member, "w", force_zip64=True) as out:
                        npy_format.write_array(out, arr, allow_pickle=False)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        if os.path.lexists(tmp):
            os.unlink(tmp)
        raise
    _fsync_directory(target.parent)


def _create_temp(target: Path) -> tuple[int, str]:
    """Open a new temporary file next to ``target`` for writing; return (fd, path).

    Created by ``os.open`` with mode ``0o666``, so the kernel applies the umask exactly as
    for a plain ``open`` (``tempfile.mkstemp`` would force ``0o600``, and reading the umask
    with ``os.umask`` is racy under threads). An existing ``target`` passes on its mode.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        tmp = str(target.parent / f".{target.name}.{secrets.token_hex(8)}.tmp")
        try:
            fd = os.open(tmp, flags, 0o666)
        except FileExistsError:  # pragma: no cover - 64 random bits collided
            continue
        try:
            mode = stat.S_IMODE(os.stat(target).st_mode)
        except FileNotFoundError:
            return fd, tmp
        try:
            os.chmod(tmp, mode)
        except BaseException:
            os.close(fd)
            os.unlink(tmp)
            raise
        return fd, tmp
    raise FileExistsError(f"could not create a temporary file next to {target}")  # pragma: no cover


def _fsync_directory(directory: Path) -> None:
    """Make a rename in ``directory`` durable, where the platform can (not on Windows)."""
    try:
        dir_fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:  # pragma: no cover - platforms without directory handles
        return
    try:
        os.fsync(dir_fd)
    except OSError:  # pragma: no cover - file systems that do not sync directories
        pass
    finally:
        os.close(dir_fd)


_NPY_MAGIC = b"\x93NUMPY"
_ZIP_MAGIC = b"PK"


def load_npz(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """Load every array of an ``.npz`` file (nothing is unpickled).

    Raises
    ------
    FileNotFoundError
        If there is no file at ``path``.
    ValueError
        Naming the file and what is wrong with it: not an ``.npz`` archive (a ``.npy``
        file or text under an ``.npz`` name), truncated or corrupted, a member that is not
        a ``.npy`` array, or an array of Python objects (which would need pickle).
    """
    path = Path(path)
    with open(path, "rb") as fh:
        head = fh.read(len(_NPY_MAGIC))
        if not head:
            raise ValueError(f"{str(path)!r} is empty, not an .npz archive")
        if head.startswith(_NPY_MAGIC):
            raise ValueError(f"{str(path)!r} is a single .npy array, not an .npz archive")
        if not head.startswith(_ZIP_MAGIC):
            raise ValueError(f"{str(path)!r} is not an .npz archive (it is not a zip file)")
        fh.seek(0)
        out: dict[str, np.ndarray] = {}
        member = None
        try:
            with zipfile.ZipFile(fh) as zf:
                for member in zf.namelist():
                    key = member[: -len(".npy")]
                    if not member.endswith(".npy") or key in out:
                        problem = "is not a .npy array" if key not in out else "appears twice"
                        raise ValueError(f"member {member!r} of {str(path)!r} {problem}")
                    with zf.open(member) as src:
                        out[key] = npy_format.read_array(src, allow_pickle=False)
        except (zipfile.BadZipFile, EOFError, ValueError, OSError, zlib.error) as err:
            if isinstance(err, ValueError) and str(err).startswith("member "):
                raise
            where = f"member {member!r} of " if member is not None else ""
            reason = str(err) or type(err).__name__
            if "allow_pickle" in reason:
                reason = "it holds Python objects, which would need pickle (refused)"
            else:
                reason += "; the file is truncated or corrupted"
            raise ValueError(f"{where}{str(path)!r} cannot be loaded: {reason}") from err
    return out
