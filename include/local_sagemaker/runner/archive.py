"""tar.gz in and out: the functions live in include/archives.py, which the pipeline shares without this package."""

from include.archives import UnsafeArchive, make_tar_gz, safe_extract  # noqa: F401
