"""What a file is, decided from its bytes, never from its name or the browser's word.

Binary formats come from puremagic's signature table; office formats are ZIP or OLE containers,
told apart by what is inside. Text is sniffed for markup the way browsers would, so HTML, SVG or
XML sent as "photo.png" is recognised as scriptable.
"""

from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass
from typing import BinaryIO

import puremagic

HEAD_BYTES = 8192

# Only these are ever shown inline (thumbnails): raster images no browser runs code from.
INLINE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
# Types a browser may execute or render as a document with scripts.
SCRIPTABLE_TYPES = frozenset(
    {
        "text/html",
        "application/xhtml+xml",
        "image/svg+xml",
        "application/xml",
        "text/xml",
        "text/javascript",
        "application/javascript",
        "application/x-shockwave-flash",
    }
)
OCTET_STREAM = "application/octet-stream"

_DESCRIPTIONS = {
    "image/png": "a PNG image",
    "image/jpeg": "a JPEG image",
    "image/gif": "a GIF image",
    "image/webp": "a WebP image",
    "image/svg+xml": "an SVG image (it can contain scripts)",
    "text/html": "a web page (HTML)",
    "application/xml": "an XML document",
    "application/pdf": "a PDF document",
    "text/plain": "a text file",
    "text/csv": "a CSV file",
    "application/zip": "a ZIP archive",
    OCTET_STREAM: "a file of a type we could not recognise",
}
# The extension a download of each type ends in (names.py adds it when the name lacks it).
EXTENSIONS = {
    "image/png": (".png",),
    "image/jpeg": (".jpg", ".jpeg", ".jpe", ".jfif"),
    "image/gif": (".gif",),
    "image/webp": (".webp",),
    "application/pdf": (".pdf",),
    "text/plain": (".txt", ".text", ".log", ".md", ".eml", ".json", ".ini", ".cfg"),
    "text/csv": (".csv",),
    "application/zip": (".zip",),
    "application/msword": (".doc", ".dot"),
    "application/vnd.ms-excel": (".xls",),
    "application/vnd.ms-powerpoint": (".ppt",),
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": (".docx",),
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": (".xlsx",),
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": (".pptx",),
    "application/vnd.oasis.opendocument.text": (".odt",),
    "application/vnd.oasis.opendocument.spreadsheet": (".ods",),
    "application/vnd.oasis.opendocument.presentation": (".odp",),
}

_OOXML = {
    "word/": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xl/": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "ppt/": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
}
_OLE_BY_EXTENSION = {".xls": "application/vnd.ms-excel", ".ppt": "application/vnd.ms-powerpoint"}
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"

# What browsers sniff as HTML when it starts a document (WHATWG MIME Sniffing, "HTML" rows).
_HTML_START = re.compile(
    rb"^<(!doctype html|html|head|script|iframe|h1|div|font|table|a|style|title|b|body|br|p|"
    rb"!--|img|object|embed|svg|math|form|meta|link|base)[\s>/]",
    re.IGNORECASE,
)
# Anywhere near the start: markup that runs code whatever the first line is.
_ACTIVE_ANYWHERE = re.compile(rb"<(script|svg|iframe|object|embed|html)[\s>/]", re.IGNORECASE)
_SVG = re.compile(rb"<svg[\s>/]", re.IGNORECASE)
_BOMS = (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")


@dataclass(frozen=True)
class Detected:
    content_type: str

    @property
    def scriptable(self) -> bool:
        return self.content_type in SCRIPTABLE_TYPES

    @property
    def inline(self) -> bool:
        return self.content_type in INLINE_TYPES

    @property
    def description(self) -> str:
        return _DESCRIPTIONS.get(self.content_type, f"a file of type {self.content_type}")


def _as_text(head: bytes) -> bytes | None:
    """``head`` as ASCII-compatible bytes to look for markup in, or None if it is binary."""
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        encoding = "utf-16-le" if head.startswith(b"\xff\xfe") else "utf-16-be"
        text = head[2:].decode(encoding, errors="ignore")
        return text.encode("ascii", errors="ignore")
    if b"\x00" in head:
        return None
    return head.removeprefix(b"\xef\xbb\xbf")


def _is_text(head: bytes) -> bool:
    if head.startswith(_BOMS):
        return True
    if b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte character cut by the end of the head is still text.
        if exc.start < len(head) - 3:
            controls = sum(b < 9 or 13 < b < 32 for b in head)
            return controls == 0 and _mostly_printable(head)
    return True


def _mostly_printable(head: bytes) -> bool:
    """Legacy 8-bit text (Latin-1, Windows-1252): few bytes outside printable ranges."""
    odd = sum(b < 32 and b not in (9, 10, 13) for b in head)
    return odd * 100 <= len(head)


def _markup(head: bytes) -> str | None:
    text = _as_text(head)
    if text is None:
        return None
    start = text[:1024].lstrip()
    if start[:5].lower() == b"<?xml":
        return "image/svg+xml" if _SVG.search(text) else "application/xml"
    if _HTML_START.match(start):
        return "image/svg+xml" if start[:4].lower() == b"<svg" else "text/html"
    if _ACTIVE_ANYWHERE.search(text[:1024]):
        return "image/svg+xml" if _SVG.search(text[:1024]) else "text/html"
    return None


def _zip_kind(file: BinaryIO) -> str:
    try:
        with zipfile.ZipFile(file) as archive:
            names = archive.namelist()
            # Only the first bytes are read: read() would unpack the whole entry, and a small
            # upload can declare gigabytes there (a zip bomb).
            if "mimetype" in names and archive.getinfo("mimetype").file_size <= 100:
                with archive.open("mimetype") as entry:
                    kind = entry.read(101)[:100].decode("ascii", "ignore").strip()
                if kind.startswith("application/vnd.oasis.opendocument."):
                    return kind
            if "[Content_Types].xml" in names:
                for prefix, kind in _OOXML.items():
                    if any(name.startswith(prefix) for name in names):
                        return kind
    except (zipfile.BadZipFile, OSError, ValueError, RuntimeError, NotImplementedError):
        pass
    return "application/zip"


def _signature(head: bytes) -> str | None:
    try:
        matches = puremagic.magic_string(head)
    except (puremagic.PureError, ValueError):
        return None
    for match in matches:
        if match.mime_type:
            return match.mime_type
    return OCTET_STREAM if matches else None


def detect(file: BinaryIO, *, name: str = "") -> Detected:
    """The type of ``file`` (binary, seekable; read from the start, left at the start).
    ``name`` only breaks ties the bytes cannot (an OLE container: Word, Excel or PowerPoint;
    text: plain or CSV)."""
    file.seek(0)
    head = file.read(HEAD_BYTES)
    file.seek(0)
    suffix = "." + name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if head.startswith(b"PK\x03\x04"):
        kind = _zip_kind(file)
        file.seek(0)
        return Detected(kind)
    if head.startswith(_OLE_MAGIC):
        return Detected(_OLE_BY_EXTENSION.get(suffix, "application/msword"))
    markup = _markup(head)
    if markup:
        return Detected(markup)
    signature = _signature(head)
    if signature and not signature.startswith("text/"):
        return Detected(signature)
    if head and _is_text(head):
        return Detected("text/csv" if suffix == ".csv" else "text/plain")
    return Detected(signature or OCTET_STREAM)
