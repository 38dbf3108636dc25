"""Attachment tests run twice: on the filesystem storage and on a real S3 endpoint (moto's
server mode on a free loopback port, started once per session; a new bucket per test)."""

from __future__ import annotations

import logging
import socket
import struct
import zlib

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

BUCKET = "helpdesk-test"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def s3_endpoint():
    moto_server = pytest.importorskip("moto.server", reason="needs moto[server]")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per S3 request
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def s3_client(endpoint: str):
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id="test",
        aws_secret_access_key="test",
        region_name="us-east-1",
    )


@pytest.fixture(scope="session")
def s3_bucket(s3_endpoint):
    """One bucket for the session, emptied before each test that uses it."""
    client = s3_client(s3_endpoint)
    client.create_bucket(Bucket=BUCKET)
    return client


@pytest.fixture(params=["filesystem", "s3"])
def storage_backend(request, settings, tmp_path):
    """The attachment storage under test, empty."""
    settings.HELPDESK_ATTACHMENTS_STORAGE = request.param
    settings.HELPDESK_ATTACHMENTS_DIR = tmp_path / "attachments"
    if request.param == "s3":
        client = request.getfixturevalue("s3_bucket")
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET):
            for item in page.get("Contents", []):
                client.delete_object(Bucket=BUCKET, Key=item["Key"])
        settings.HELPDESK_S3_ENDPOINT_URL = request.getfixturevalue("s3_endpoint")
        settings.HELPDESK_S3_BUCKET = BUCKET
        settings.AWS_ACCESS_KEY_ID = "test"
        settings.AWS_SECRET_ACCESS_KEY = "test"
    return request.param


def png_bytes(width: int = 2, height: int = 2) -> bytes:
    """A real (tiny, grey) PNG image."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    rows = b"".join(b"\x00" + b"\x80" * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
HTML = b"<!DOCTYPE html><html><body><script>alert(document.cookie)</script></body></html>"
SVG = b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><circle r="4"/></svg>'


def upload(name: str, content: bytes, content_type: str = "application/octet-stream"):
    """A file as a browser sends it (the content type it claims is never believed)."""
    return SimpleUploadedFile(name, content, content_type=content_type)
