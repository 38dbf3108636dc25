"""The text a customer wrote, taken out of an email: the plain-text part (or readable text made
from HTML-only mail), without the quoted earlier messages mail programs append, and safe to
store in any of our databases.
"""

from __future__ import annotations

import contextlib
import mimetypes
import re
import unicodedata
from dataclasses import dataclass
from email.header import decode_header, make_header
from email.message import Message
from html.parser import HTMLParser

# Every email we send starts with this line (templates/email/base.txt and .html), so in a reply
# that quotes it, everything from it down is our own email again and is trimmed.
REPLY_ABOVE_LINE = "## Please write your reply above this line ##"
SHORTENED = "[message shortened]"
EMPTY_BODY = "(no text)"

_MARKER = re.compile(r"^\W*please write your reply above this line\W*$", re.IGNORECASE)
# "On Tue, 2 Jan 2024 at 10:00, Ann <ann@example.com> wrote:" (often wrapped over two lines),
# and the same in a few languages customers' mail programs use.
_ATTRIBUTION = re.compile(
    r"^(on|am|le|el|il|op)\s.{0,300}\b(wrote|schrieb|a écrit|escribió|ha scritto|schreef)\b"
    r".{0,200}:$",
    re.IGNORECASE | re.DOTALL,
)
_ORIGINAL_MESSAGE = re.compile(r"^-{3,}\s*original message\s*-{3,}$", re.IGNORECASE)
# Outlook on the web: a line of underscores, then the earlier message's "From:" header.
_OUTLOOK_RULE = re.compile(r"^_{20,}$")
_HEADER_LINE = re.compile(r"^\*?(from|von|de)\s*:", re.IGNORECASE)
# Everything but tab and newline below 0x20, DEL, and lone surrogates (from undecodable bytes):
# PostgreSQL refuses NUL in text, and no database can store half a surrogate pair.
_UNSTORABLE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\ud800-\udfff]")


@dataclass(frozen=True)
class Body:
    text: str  # what the customer wrote, quotes trimmed
    attachments: int  # parts that were not the text (files, forwarded mails, inline images)
    # Those parts' bytes and file names, in order (tickets.attachments checks and keeps them).
    files: tuple[tuple[bytes, str], ...] = ()


def clean_text(text: str) -> str:
    """``text`` with line endings made ``\\n`` and characters no database stores removed."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _UNSTORABLE.sub("", unicodedata.normalize("NFC", text))


def shorten(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, keeping the beginning and saying it was cut."""
    if len(text) <= limit:
        return text
    return text[: limit - len(SHORTENED) - 2].rstrip() + "\n\n" + SHORTENED


def _decoded(part: Message) -> str:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    charset = part.get_content_charset() or "utf-8"
    try:
        return payload.decode(charset, errors="replace")
    except (LookupError, TypeError, ValueError):  # a charset Python does not know
        return payload.decode("utf-8", errors="replace")


def _is_attachment(part: Message) -> bool:
    disposition = str(part.get("Content-Disposition", "")).split(";")[0].strip().lower()
    return disposition == "attachment" or bool(part.get_param("name") or part.get_filename())


def _file_of(part: Message, number: int) -> tuple[bytes, str]:
    """A non-text part as (bytes, file name); a part without a name gets a numbered one."""
    if part.get_content_type() == "message/rfc822":
        inner = part.get_payload()
        content = inner[0].as_bytes() if isinstance(inner, list) and inner else b""
        return content, part.get_filename() or f"forwarded-message-{number}.eml"
    payload = part.get_payload(decode=True)
    content = payload if isinstance(payload, bytes) else b""
    name = part.get_filename()
    if name:
        with contextlib.suppress(LookupError, UnicodeError, ValueError, TypeError, AssertionError):
            name = str(make_header(decode_header(name)))
    else:
        name = f"attachment-{number}{mimetypes.guess_extension(part.get_content_type()) or ''}"
    return content, name


def _leaves(message: Message) -> list[Message]:
    """The non-multipart parts in order; a forwarded message (message/rfc822) is one leaf."""
    if message.get_content_maintype() == "multipart" and isinstance(message.get_payload(), list):
        return [leaf for part in message.get_payload() for leaf in _leaves(part)]
    return [message]


def extract_body(message: Message) -> Body:
    """The customer's text (text/plain preferred, else HTML made readable) and the other
    parts as files."""
    plain: list[str] = []
    html: list[str] = []
    files: list[tuple[bytes, str]] = []
    for part in _leaves(message):
        kind = part.get_content_type()
        if kind == "text/plain" and not _is_attachment(part):
            plain.append(_decoded(part))
        elif kind == "text/html" and not _is_attachment(part):
            html.append(_decoded(part))
        else:
            files.append(_file_of(part, len(files) + 1))
    # Several inline text parts are one body split around inline images (Apple Mail does this).
    text = "\n".join(plain) if plain else "\n".join(html_to_text(h) for h in html)
    return Body(text=trim_quoted(clean_text(text)), attachments=len(files), files=tuple(files))


def _only_quotes_follow(lines: list[str], index: int) -> bool:
    """Every non-blank line after ``index`` is quoted (or there is none).

    Only then is an attribution the start of the history: a customer answering point by point
    writes their own lines between the quoted ones, and cutting there would lose the answers.
    """
    return all(line.lstrip().startswith(">") for line in lines[index + 1 :] if line.strip())


def _history_starts(lines: list[str], index: int) -> bool:
    line = lines[index].strip()
    if _MARKER.match(line) or _ORIGINAL_MESSAGE.match(line):
        return True
    if _OUTLOOK_RULE.match(line):
        return index + 1 < len(lines) and bool(_HEADER_LINE.match(lines[index + 1].strip()))
    if len(line) > 500 or not line[:3].strip().isalpha():
        return False
    # An attribution ends in ":" (on this line or, wrapped, the next) and only quoted text
    # follows; "On Monday I wrote:" followed by the customer's own words is not one, nor is an
    # attribution with inline answers below it.
    if line.endswith(":") and _ATTRIBUTION.match(line):
        return _only_quotes_follow(lines, index)
    if index + 1 < len(lines):
        joined = f"{line} {lines[index + 1].strip()}"
        if joined.endswith(":") and len(joined) <= 500 and _ATTRIBUTION.match(joined):
            return _only_quotes_follow(lines, index + 1)
    return False


def trim_quoted(text: str) -> str:
    """Drop the earlier messages a reply quotes below the new text: everything from our marker
    line, an "On ... wrote:" line, an Outlook original-message separator, and trailing lines
    quoted with ">". Quotes between the customer's own lines stay (they answer point by point):
    an "On ... wrote:" line with unquoted lines anywhere below it is not cut at all.
    """
    lines = text.strip().split("\n")
    for index in range(len(lines)):
        if _history_starts(lines, index):
            lines = lines[:index]
            break
    while lines and (not lines[-1].strip() or lines[-1].lstrip().startswith(">")):
        lines.pop()
    trimmed = "\n".join(lines).strip()
    # A mail that is nothing but a quote (or a marker) keeps what it had rather than nothing.
    return trimmed or text.strip()


# fmt: off
_BLOCK_TAGS = frozenset({
    "address", "article", "aside", "blockquote", "dd", "div", "dl", "dt", "fieldset",
    "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr",
    "li", "main", "nav", "ol", "p", "pre", "section", "table", "tbody", "td", "tfoot", "th",
    "thead", "tr", "ul",
})
# fmt: on
_PARAGRAPH_TAGS = frozenset(
    {"blockquote", "dl", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "ol", "p", "pre", "table", "ul"}
)
_HIDDEN_TAGS = frozenset({"head", "script", "style", "template", "title"})


class _TextMaker(HTMLParser):
    """HTML as the text a person would read: blocks on their own lines, list items with a
    dash, quoted blocks prefixed with ">" (so quote trimming treats them like plain text)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[tuple[int, list[str]]] = [(0, [])]
        self.quote_depth = 0
        self.hidden = 0
        self.pre = 0

    def _break(self, tag: str = "") -> None:
        """Start a new line; paragraph-like blocks also leave a blank line before them."""
        lines = self.lines
        if lines[-1][1]:
            lines.append((self.quote_depth, []))
        else:
            lines[-1] = (self.quote_depth, [])
        if tag in _PARAGRAPH_TAGS and len(lines) > 1 and lines[-2][1]:
            lines.insert(-1, (self.quote_depth, []))

    def handle_starttag(self, tag: str, attrs) -> None:
        if tag in _HIDDEN_TAGS:
            self.hidden += 1
        elif tag == "br":
            self.lines.append((self.quote_depth, []))
        elif tag in _BLOCK_TAGS:
            if tag == "blockquote":
                self.quote_depth += 1
            elif tag == "pre":
                self.pre += 1
            self._break(tag)
            if tag == "li":
                self.lines[-1][1].append("- ")

    def handle_startendtag(self, tag: str, attrs) -> None:
        if tag == "br":
            self.lines.append((self.quote_depth, []))
        elif tag in _BLOCK_TAGS:
            self._break()

    def handle_endtag(self, tag: str) -> None:
        if tag in _HIDDEN_TAGS:
            self.hidden = max(0, self.hidden - 1)
        elif tag in _BLOCK_TAGS:
            if tag == "blockquote":
                self.quote_depth = max(0, self.quote_depth - 1)
            elif tag == "pre":
                self.pre = max(0, self.pre - 1)
            self._break(tag)

    def handle_data(self, data: str) -> None:
        if self.hidden:
            return
        if self.pre:
            first, *rest = data.split("\n")
            self.lines[-1][1].append(first)
            for line in rest:
                self.lines.append((self.quote_depth, [line]))
            return
        words = " ".join(data.split())
        if not words:
            if data and self.lines[-1][1]:
                self.lines[-1][1].append(" ")
            return
        if data[:1].isspace() and self.lines[-1][1]:
            words = " " + words
        if data[-1:].isspace():
            words += " "
        self.lines[-1][1].append(words)

    def text(self) -> str:
        out: list[str] = []
        for depth, parts in self.lines:
            line = "".join(parts).strip()
            out.append("> " * depth + line if line else "")
        # At most one blank line between blocks.
        return re.sub(r"\n{3,}", "\n\n", "\n".join(out)).strip()


def html_to_text(html: str) -> str:
    """Readable plain text from an HTML email body (never the markup itself)."""
    maker = _TextMaker()
    try:
        maker.feed(html)
        maker.close()
    except (AssertionError, ValueError):  # html.parser's few hard failures on broken markup
        pass
    return maker.text()
