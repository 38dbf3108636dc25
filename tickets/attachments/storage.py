"""One storage per department, through Django's storage API.

``filesystem``: ``HELPDESK_ATTACHMENTS_DIR/<slug>/``. ``s3`` (django-storages): the bucket
``HELPDESK_S3_BUCKET`` under the prefix ``<slug>/``, or a bucket per department when the name
contains ``{department}``. Keys are dated random names, never the file's own name.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.files.storage import FileSystemStorage, Storage
from django.utils import timezone

from departments.registry import Department

BACKENDS = ("filesystem", "s3")


@dataclass(frozen=True)
class _Config:
    """The settings one department's storage is made from (a storage is kept per config)."""

    slug: str
    backend: str
    directory: Path | None
    bucket: str
    endpoint_url: str | None
    access_key: str | None
    secret_key: str | None
    region: str

    @classmethod
    def of(cls, department: Department) -> _Config:
        backend = settings.HELPDESK_ATTACHMENTS_STORAGE
        if backend != "s3":
            directory = Path(settings.HELPDESK_ATTACHMENTS_DIR)
            return cls(department.slug, backend, directory, "", None, None, None, "")
        return cls(
            slug=department.slug,
            backend=backend,
            directory=None,
            bucket=settings.HELPDESK_S3_BUCKET,
            endpoint_url=settings.HELPDESK_S3_ENDPOINT_URL,
            access_key=settings.AWS_ACCESS_KEY_ID,
            secret_key=settings.AWS_SECRET_ACCESS_KEY,
            region=settings.AWS_S3_REGION_NAME,
        )


@functools.lru_cache(maxsize=256)
def _storage(config: _Config) -> Storage:
    if config.backend == "filesystem":
        # No base_url: files are only ever served through the download views.
        return FileSystemStorage(
            location=config.directory / config.slug,
            base_url=None,
            file_permissions_mode=0o640,
            directory_permissions_mode=0o750,
        )
    if config.backend == "s3":
        from storages.backends.s3 import S3Storage

        per_department = "{department}" in config.bucket
        return S3Storage(
            bucket_name=config.bucket.format(department=config.slug)
            if per_department
            else config.bucket,
            location="" if per_department else config.slug,
            endpoint_url=config.endpoint_url,
            access_key=config.access_key,
            secret_key=config.secret_key,
            region_name=config.region,
            # Keys are random: no existence check before each upload.
            file_overwrite=True,
            default_acl=None,
            # Path-style addressing: MinIO and other S3-compatible servers on one host name.
            addressing_style="path",
        )
    raise ImproperlyConfigured(
        f"HELPDESK_ATTACHMENTS_STORAGE={config.backend!r}: use one of {', '.join(BACKENDS)}."
    )


def storage_for(department: Department) -> Storage:
    """The storage holding ``department``'s attachments (one object per configuration, so its
    S3 connection is made once per process)."""
    return _storage(_Config.of(department))


def new_key() -> str:
    """A key for new bytes: dated (so listings and lifecycle rules can work by day) and random
    (so the key says nothing about the file, and two uploads never meet)."""
    return f"{timezone.now():%Y/%m/%d}/{uuid.uuid4().hex}"


def stored_keys(storage: Storage, path: str = "") -> Iterator[str]:
    """Every key under ``path``, depth first (``listdir`` is one level in every backend)."""
    try:
        directories, files = storage.listdir(path)
    except FileNotFoundError:
        return
    prefix = f"{path}/" if path else ""
    for name in sorted(files):
        yield prefix + name
    for directory in sorted(directories):
        yield from stored_keys(storage, prefix + directory)
