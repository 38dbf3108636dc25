"""What a file is called when it is stored and downloaded: the last path component only, no
control or formatting characters, nothing a file system or a Content-Disposition header
trips over, a length every system takes, and an extension that matches what the file is.
"""

from __future__ import annotations

import mimetypes
import re
import unicodedata

from tickets.attachments.detection import EXTENSIONS

NAME_MAX = 150
ORIGINAL_MAX = 255
FALLBACK = "attachment"

# Characters Windows refuses in names, and quotes that confuse header parsers.
_RESERVED_CHARACTERS = re.compile(r'[<>:"|?*\\/;`\']')
_WINDOWS_DEVICES = re.compile(r"^(con|prn|aux|nul|com[0-9]|lpt[0-9])(\..*)?$", re.IGNORECASE)
# The categories no file name needs: controls, format (bidi overrides, zero-width), unassigned,
# private use and lone surrogates.
_DROPPED_CATEGORIES = frozenset({"Cc", "Cf", "Cn", "Co", "Cs"})


def _visible(text: str) -> str:
    return "".join(
        " " if unicodedata.category(c) in ("Zl", "Zp") or c in "\t\n\r" else c
        for c in text
        if c in "\t\n\r" or unicodedata.category(c) not in _DROPPED_CATEGORIES
    )


def storable_original(name: str) -> str:
    """The name as sent, minus what no database stores, cut to the column."""
    return _visible(unicodedata.normalize("NFC", name or ""))[:ORIGINAL_MAX]


def _guessed_extensions(content_type: str) -> tuple[str, ...]:
    if not content_type:
        return ()
    preferred = mimetypes.guess_extension(content_type)
    others = sorted(set(mimetypes.guess_all_extensions(content_type)) - {preferred})
    return tuple(e for e in (preferred, *others) if e)


def _last_component(name: str) -> str:
    return re.split(r"[/\\]", name)[-1]


def _cut(stem: str, suffix: str, limit: int) -> str:
    if len(suffix) > 16:  # a "suffix" that long is part of the name
        stem, suffix = stem + suffix, ""
    return stem[: max(1, limit - len(suffix))].rstrip(" .") + suffix


def safe_name(name: str, *, content_type: str = "") -> str:
    """A download name for ``name``: see the module docstring. The extension of
    ``content_type`` is added when the name's does not match it (a PNG sent as "photo.exe"
    downloads as "photo.exe.png")."""
    text = _visible(unicodedata.normalize("NFKC", name or ""))
    text = _last_component(text)
    text = _RESERVED_CHARACTERS.sub("_", text)
    text = " ".join(text.split()).strip(" .")
    if not text or set(text) <= {"_", "-"}:
        text = FALLBACK
    if _WINDOWS_DEVICES.match(text):
        text = "_" + text
    stem, dot, suffix = text.rpartition(".")
    if not dot or not stem:
        stem, suffix = text, ""
    else:
        suffix = "." + suffix
    known = EXTENSIONS.get(content_type) or _guessed_extensions(content_type)
    if known and suffix.lower() not in known:
        stem, suffix = stem + suffix, known[0]
    return _cut(stem, suffix, NAME_MAX)
