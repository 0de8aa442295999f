"""Unpacking dataset archives (zip, tar, tar.gz/bz2/xz) without letting them write elsewhere.

An archive is untrusted input: a member named ``../../.bashrc`` or ``/etc/cron.d/x``, a symlink
or hard link pointing out of the target folder, or a device file would write outside the
dataset folder, or later redirect a write there. :func:`safe_extract` checks **every** member
before it writes anything and refuses the whole archive with :class:`UnsafeArchiveError`
naming the first bad member; only regular files and folders are unpacked. Each file is written
through a temporary name and renamed when complete, so an interrupted unpack never leaves a
half-written image that looks whole; running it again finishes the job.

Command line: ``python -m deepfake_iot.data.archive ARCHIVE TARGET_FOLDER``.
"""

from __future__ import annotations

import argparse
import posixpath
import stat
import sys
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from deepfake_iot.paths import atomic_path, ensure_dir

CHUNK = 1024 * 1024


class UnsafeArchiveError(ValueError):
    """The archive holds a member that would land outside the target folder, or is not a plain
    file or folder, or exceeds a size limit. Nothing has been written when it is raised by the
    checks; a size limit found exceeded while unpacking leaves the files written so far."""


@dataclass(frozen=True)
class _Member:
    name: str  # the member's name as stored
    relative: str  # the normalised relative path inside the target folder
    is_dir: bool
    size: int
    handle: object  # ZipInfo or TarInfo


def _relative_name(name: str, archive: Path) -> str:
    """The member's path relative to the target, or raise: no absolute path, no drive letter,
    no ``..`` component, no backslash tricks, no NUL."""
    if not name or "\x00" in name:
        raise UnsafeArchiveError(f"{archive}: member {name!r} has an empty or NUL-holding name")
    unified = name.replace("\\", "/")
    if unified.startswith("/") or (len(unified) > 1 and unified[1] == ":"):
        raise UnsafeArchiveError(f"{archive}: member {name!r} has an absolute path")
    parts = [part for part in unified.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise UnsafeArchiveError(f"{archive}: member {name!r} climbs out of the target with '..'")
    return posixpath.join(*parts) if parts else ""


def _zip_members(archive: Path, opened: zipfile.ZipFile) -> list[_Member]:
    members = []
    for info in opened.infolist():
        relative = _relative_name(info.filename, archive)
        # Unix zips (create_system 3) keep the file type in the high bits; none means a file.
        kind = stat.S_IFMT(info.external_attr >> 16) if info.create_system == 3 else 0
        if kind == stat.S_IFLNK:
            raise UnsafeArchiveError(f"{archive}: member {info.filename!r} is a symbolic link")
        if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
            raise UnsafeArchiveError(f"{archive}: member {info.filename!r} is not a regular file")
        members.append(_Member(info.filename, relative, info.is_dir(), info.file_size, info))
    return members


def _tar_members(archive: Path, opened: tarfile.TarFile) -> list[_Member]:
    members = []
    for info in opened.getmembers():
        relative = _relative_name(info.name, archive)
        if info.issym() or info.islnk():
            kind = "symbolic" if info.issym() else "hard"
            raise UnsafeArchiveError(
                f"{archive}: member {info.name!r} is a {kind} link (to {info.linkname!r})"
            )
        if not (info.isfile() or info.isdir()):
            raise UnsafeArchiveError(
                f"{archive}: member {info.name!r} is a device, FIFO or other special file"
            )
        members.append(_Member(info.name, relative, info.isdir(), info.size, info))
    return members


def _inside(target: Path, relative: str, archive: Path, name: str) -> Path:
    """The destination, resolved; refused when a folder already in the target is a symlink
    that leads out of it."""
    destination = (target / relative).resolve()
    if destination != target and target not in destination.parents:
        raise UnsafeArchiveError(f"{archive}: member {name!r} would be written outside {target}")
    return destination


def list_safe_members(archive: Path | str) -> list[str]:
    """The relative paths an archive would unpack to; raises UnsafeArchiveError on any bad
    member. Writes nothing."""
    archive = Path(archive)
    with _open(archive) as (_, members):
        return [m.relative for m in members if m.relative]


class _open:
    """Context manager: the opened archive and its checked members."""

    def __init__(self, archive: Path):
        self.archive = archive
        self.opened = None

    def __enter__(self):
        archive = self.archive
        if not archive.is_file():
            raise FileNotFoundError(f"archive {archive} does not exist")
        try:
            if zipfile.is_zipfile(archive):
                self.opened = zipfile.ZipFile(archive)
                return self.opened, _zip_members(archive, self.opened)
            if tarfile.is_tarfile(archive):
                self.opened = tarfile.open(archive)
                return self.opened, _tar_members(archive, self.opened)
        except UnsafeArchiveError:
            self.__exit__(None, None, None)
            raise
        except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError) as error:
            self.__exit__(None, None, None)
            raise ValueError(f"{archive} is not a readable zip or tar archive: {error}") from error
        raise ValueError(f"{archive} is neither a zip nor a tar archive")

    def __exit__(self, *exc):
        if self.opened is not None:
            self.opened.close()
        return False


def safe_extract(
    archive: Path | str, target: Path | str, *, max_total_bytes: int | None = None
) -> list[Path]:
    """Unpack a zip or tar archive into ``target``, refusing it as a whole when any member is
    unsafe (see module docstring); returns the files written.

    ``max_total_bytes`` caps the unpacked size (a decompression bomb): checked against the
    sizes the archive declares before writing, and against the bytes actually read while
    writing, since declared sizes can lie.
    """
    archive, target = Path(archive), ensure_dir(target).resolve()
    written = []
    with _open(archive) as (opened, members):
        declared = sum(m.size for m in members if not m.is_dir)
        if max_total_bytes is not None and declared > max_total_bytes:
            raise UnsafeArchiveError(
                f"{archive}: unpacks to {declared} bytes, more than the limit {max_total_bytes}"
            )
        plan = [(m, _inside(target, m.relative, archive, m.name)) for m in members if m.relative]
        total = 0
        for member, destination in plan:
            if member.is_dir:
                ensure_dir(destination)
                continue
            if destination.is_dir():
                raise UnsafeArchiveError(f"{archive}: file {member.name!r} collides with a folder")
            source = (
                opened.open(member.handle)
                if isinstance(opened, zipfile.ZipFile)
                else opened.extractfile(member.handle)
            )
            with source, atomic_path(destination) as tmp, open(tmp, "wb") as sink:
                while chunk := source.read(CHUNK):
                    total += len(chunk)
                    if max_total_bytes is not None and total > max_total_bytes:
                        raise UnsafeArchiveError(
                            f"{archive}: unpacked more than the limit of {max_total_bytes} "
                            f"bytes (at member {member.name!r}); its declared sizes are wrong"
                        )
                    sink.write(chunk)
            written.append(destination)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m deepfake_iot.data.archive",
        description="Unpack a dataset archive (zip or tar) into a folder, refusing members that "
        "would land outside it (absolute paths, '..', links, special files).",
    )
    parser.add_argument("archive", type=Path)
    parser.add_argument("target", type=Path)
    parser.add_argument("--max-gb", type=float, default=None, help="refuse above this size")
    args = parser.parse_args(argv)
    limit = None if args.max_gb is None else int(args.max_gb * 2**30)
    try:
        files = safe_extract(args.archive, args.target, max_total_bytes=limit)
    except (ValueError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"{len(files)} files unpacked into {args.target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
