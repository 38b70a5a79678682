"""tar.gz in and out. Extraction refuses anything that could land outside the target directory."""

from __future__ import annotations

import tarfile
from pathlib import Path


class UnsafeArchive(ValueError):
    """An archive member is an absolute path, climbs out with `..`, or is a link or device."""


def safe_extract(archive: Path, dest: Path) -> list[str]:
    """Extract regular files and directories only; raise UnsafeArchive naming the first bad member."""
    dest = dest.resolve()
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive, "r:*") as tar:
        members = tar.getmembers()
        for member in members:
            name = member.name
            if name.startswith("/") or Path(name).is_absolute():
                raise UnsafeArchive(f"{archive.name}: member {name!r} has an absolute path")
            if ".." in Path(name).parts:
                raise UnsafeArchive(f"{archive.name}: member {name!r} climbs out of the target with '..'")
            if member.issym() or member.islnk():
                raise UnsafeArchive(f"{archive.name}: member {name!r} is a link ({member.linkname!r})")
            if not (member.isfile() or member.isdir()):
                raise UnsafeArchive(f"{archive.name}: member {name!r} is not a regular file or directory")
            if not (dest / name).resolve().is_relative_to(dest):
                raise UnsafeArchive(f"{archive.name}: member {name!r} resolves outside the target")
        # The checks above are ours; the "data" filter is the standard library's second line of defence.
        tar.extractall(dest, members=members, filter="data")
    return [m.name for m in members if m.isfile()]


def make_tar_gz(src: Path, archive: Path) -> Path:
    """Pack the contents of src (not src itself), as SageMaker packs /opt/ml/model into model.tar.gz."""
    archive.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive, "w:gz") as tar:
        for path in sorted(src.rglob("*")):
            if path.is_file() and not path.is_symlink():
                tar.add(path, arcname=str(path.relative_to(src)), recursive=False)
    return archive
