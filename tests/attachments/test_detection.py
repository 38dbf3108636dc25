"""File types come from the bytes, names are made safe, and the limits refuse before storing."""

from __future__ import annotations

import io
import zipfile

import pytest
from django.core.exceptions import ValidationError
from hypothesis import given
from hypothesis import strategies as st

from tests.attachments.conftest import HTML, PDF, SVG, png_bytes, upload
from tickets.attachments.detection import detect
from tickets.attachments.names import NAME_MAX, safe_name, storable_original
from tickets.attachments.uploads import (
    MSG_EMPTY,
    check_email_files,
    check_file,
    check_files,
)


def zip_bytes(names: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in names.items():
            archive.writestr(name, content)
    return buffer.getvalue()


DOCX = zip_bytes({"[Content_Types].xml": b"<Types/>", "word/document.xml": b"<w:document/>"})


@pytest.mark.parametrize(
    ("content", "name", "expected"),
    [
        (png_bytes(), "holiday.exe", "image/png"),
        (png_bytes(), "photo.png", "image/png"),
        (HTML, "photo.png", "text/html"),
        (b"  \n<html><body>hi</body></html>", "cute.jpg", "text/html"),
        (SVG, "logo.png", "image/svg+xml"),
        (b'<?xml version="1.0"?>\n' + SVG, "logo.gif", "image/svg+xml"),
        (b"\xef\xbb\xbf<script>alert(1)</script>", "notes.txt", "text/html"),
        (b"Dear support,\n<script>x</script> pasted from a page", "notes.txt", "text/html"),
        (PDF, "invoice.png", "application/pdf"),
        (b"order,amount\n1,2.50\n", "orders.csv", "text/csv"),
        (b"order,amount\n1,2.50\n", "orders.txt", "text/plain"),
        ("Grüße aus Köln".encode(), "greeting", "text/plain"),
        (
            DOCX,
            "report.zip",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        ),
        (zip_bytes({"a.txt": b"a"}), "report.docx", "application/zip"),
        (
            b"MZ\x90\x00\x03" + b"\x00" * 80,
            "setup.pdf",
            "application/vnd.microsoft.portable-executable",
        ),
    ],
)
def test_the_type_comes_from_the_bytes_not_the_name(content, name, expected):
    assert detect(io.BytesIO(content), name=name).content_type == expected


def test_scriptable_types_are_never_inline_and_only_raster_images_are():
    assert detect(io.BytesIO(HTML)).scriptable and not detect(io.BytesIO(HTML)).inline
    assert detect(io.BytesIO(SVG)).scriptable and not detect(io.BytesIO(SVG)).inline
    assert detect(io.BytesIO(png_bytes())).inline
    assert not detect(io.BytesIO(PDF)).inline


@given(st.binary(max_size=600), st.text(max_size=40))
def test_any_bytes_get_a_type_and_leave_the_file_at_its_start(content, name):
    file = io.BytesIO(content)
    detected = detect(file, name=name)
    assert "/" in detected.content_type
    assert file.tell() == 0


def test_a_png_renamed_exe_is_accepted_as_png_and_downloads_as_png():
    checked = check_file(upload("holiday.exe", png_bytes()), "holiday.exe")
    assert (checked.content_type, checked.name) == ("image/png", "holiday.exe.png")


def test_an_html_file_renamed_png_is_refused_saying_what_it_is():
    with pytest.raises(ValidationError) as caught:
        check_file(upload("photo.png", HTML, "image/png"), "photo.png")
    assert caught.value.code == "type"
    assert "“photo.png” is a web page (HTML), which we do not accept" in caught.value.messages[0]


def test_a_zero_byte_file_is_refused():
    with pytest.raises(ValidationError) as caught:
        check_file(upload("empty.pdf", b""), "empty.pdf")
    assert caught.value.messages == [MSG_EMPTY % {"name": "empty.pdf"}]


def test_a_hostile_name_becomes_a_plain_short_name():
    hostile = "../../" + "\x00\x1b[31m\u202e" + "x" * 300 + "\r\n.pdf"
    checked = check_file(upload("x.pdf", PDF), hostile)
    assert checked.name.endswith(".pdf") and len(checked.name) <= NAME_MAX
    assert not set(checked.name) & set("/\\\x00\x1b\r\n\u202e")
    assert checked.original_name.startswith("../../[31m") and len(checked.original_name) == 255


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        ("C:\\Users\\ann\\Desktop\\invoice.pdf", "invoice.pdf"),
        ("/etc/passwd", "passwd.pdf"),
        ("..", "attachment.pdf"),
        ("CON.pdf", "_CON.pdf"),
        ('a"b;c.pdf', "a_b_c.pdf"),
        ("naïve résumé.pdf", "naïve résumé.pdf"),
    ],
)
def test_names_keep_only_the_last_component_and_harmless_characters(sent, kept):
    assert safe_name(sent, content_type="application/pdf") == kept


@given(st.text(max_size=400), st.sampled_from(["", "image/png", "text/plain"]))
def test_any_name_becomes_a_storable_download_name(name, content_type):
    safe = safe_name(name, content_type=content_type)
    assert 0 < len(safe) <= NAME_MAX
    assert not set(safe) & set('/\\:*?"<>|;\x00')
    assert safe == safe.strip() and not safe.startswith(".")
    assert all(ord(c) >= 32 and c != "\x7f" for c in safe)
    assert len(storable_original(name)) <= 255


def test_limits_per_file_per_message_and_in_number(settings):
    settings.HELPDESK_ATTACHMENT_MAX_FILE_BYTES = 100
    settings.HELPDESK_ATTACHMENT_MAX_MESSAGE_BYTES = 150
    settings.HELPDESK_ATTACHMENT_MAX_FILES = 2
    with pytest.raises(ValidationError) as caught:
        check_files([(upload("big.pdf", PDF + b"x" * 200), "big.pdf")])
    assert caught.value.messages[0].startswith("“big.pdf” is 2")
    assert "each file must be 100\xa0bytes or smaller" in caught.value.messages[0]
    small = PDF + b"x" * (90 - len(PDF))
    with pytest.raises(ValidationError) as caught:
        check_files([(upload("a.pdf", small), "a.pdf"), (upload("b.pdf", small), "b.pdf")])
    assert "the limit is 150\xa0bytes per message" in caught.value.messages[0]
    with pytest.raises(ValidationError) as caught:
        check_files([(upload(f"{n}.pdf", PDF), f"{n}.pdf") for n in range(3)])
    assert caught.value.messages == ["You chose 3 files: attach 2 or fewer to one message."]


def test_the_allowed_list_is_configurable(settings):
    settings.HELPDESK_ATTACHMENT_TYPES = ["application/pdf"]
    with pytest.raises(ValidationError):
        check_file(upload("a.png", png_bytes()), "a.png")
    settings.HELPDESK_ATTACHMENT_TYPES = ["application/pdf", "image/png"]
    assert check_file(upload("a.png", png_bytes()), "a.png").content_type == "image/png"


def test_email_files_over_the_limits_are_dropped_with_a_line_each(settings):
    settings.HELPDESK_ATTACHMENT_MAX_FILE_BYTES = 1000
    settings.HELPDESK_ATTACHMENT_MAX_FILES = 2
    kept, dropped = check_email_files(
        [
            (PDF, "a.pdf"),
            (HTML, "page.png"),
            (b"x" * 2000, "huge.txt"),
            (b"", "empty.txt"),
            (png_bytes(), "b.png"),
            (PDF, "c.pdf"),
        ]
    )
    assert [upload.name for upload in kept] == ["a.pdf", "b.png"]
    assert dropped == [
        "[page.png not kept: a web page (HTML), which we do not accept]",
        "[huge.txt not kept: larger than 1000\xa0bytes]",
        "[empty.txt not kept: it is empty]",
        "[c.pdf not kept: more than 2 files]",
    ]
