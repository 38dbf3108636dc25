"""The text kept from an email: quotes trimmed, HTML made readable, nothing unstorable."""

from __future__ import annotations

from email import message_from_bytes, policy

import pytest

from tests.mail.inbound_mail import build
from tickets.mail.body import (
    REPLY_ABOVE_LINE,
    SHORTENED,
    clean_text,
    extract_body,
    html_to_text,
    shorten,
    trim_quoted,
)


def body_of(raw: bytes):
    return extract_body(message_from_bytes(raw, policy=policy.compat32))


@pytest.mark.parametrize(
    "quoted",
    [
        "On Tue, 2 Jan 2024 at 10:00, Help desk <support@localhost> wrote:\n> Your ticket...",
        # Gmail wraps a long attribution over two lines.
        "On Tue, 2 Jan 2024 at 10:00, Help desk\n<support+BIL-7K3F9Q.abc@localhost> wrote:\n> Hi",
        "Am 02.01.2024 um 10:00 schrieb Help desk <support@localhost>:\n> Hallo",
        "-----Original Message-----\nFrom: Help desk\nSent: Tuesday\n\nYour ticket...",
        "________________________________\nFrom: Help desk <support@localhost>\nSent: today",
        f"{REPLY_ABOVE_LINE}\nYour ticket BIL-7K3F9Q was answered:",
        "> Your ticket BIL-7K3F9Q was answered:\n>\n> Agent wrote this",
    ],
)
def test_quoted_history_is_trimmed(quoted):
    assert trim_quoted(f"Thanks, that fixed it.\n\n{quoted}\n> more\n") == "Thanks, that fixed it."


def test_point_by_point_answers_keep_their_quotes():
    text = "> Which browser?\nFirefox 128.\n> Which page?\nThe invoice page.\n\n> Regards\n"
    assert trim_quoted(text) == "> Which browser?\nFirefox 128.\n> Which page?\nThe invoice page."


def test_a_mail_that_is_only_a_quote_is_kept_rather_than_emptied():
    assert trim_quoted("> only quoted\n> text") == "> only quoted\n> text"


def test_a_sentence_starting_with_on_is_not_an_attribution():
    text = "On Monday the invoice was wrong.\nPlease check what you wrote."
    assert trim_quoted(text) == text
    text = "On Monday I wrote:\nthe invoice is wrong.\n\nOn Tuesday you wrote:\n\n> quoted"
    assert trim_quoted(text) == "On Monday I wrote:\nthe invoice is wrong."


def test_plain_text_is_preferred_over_html():
    raw = build("Plain words.", html="<p>HTML <b>words</b></p>")
    assert body_of(raw).text == "Plain words."
    assert body_of(raw).attachments == 0


def test_html_only_mail_becomes_readable_text_never_markup():
    html = (
        "<html><head><style>p {color: red}</style><title>t</title></head><body>"
        "<p>Hello&nbsp;there &amp; thanks,</p><div>My order:<br>"
        "<ul><li>one</li><li>two</li></ul></div><script>alert(1)</script>"
        '<div class="gmail_quote">On Tue, 2 Jan 2024, Help desk wrote:'
        "<blockquote>Your ticket was answered</blockquote></div></body></html>"
    )
    raw = build("placeholder")
    message = message_from_bytes(raw, policy=policy.default)
    message.set_content(html, subtype="html")
    text = extract_body(message_from_bytes(bytes(message), policy=policy.compat32)).text
    assert text == "Hello there & thanks,\n\nMy order:\n\n- one\n- two"
    assert "<" not in text and "alert" not in text and "color" not in text


def test_html_blockquotes_are_quoted_lines():
    assert html_to_text("<p>Yes</p><blockquote><p>Did it work?</p></blockquote>") == (
        "Yes\n\n> Did it work?"
    )


def test_broken_html_still_gives_text():
    assert html_to_text("<p>unclosed <b>bold <div>and <![CDATA[x").startswith("unclosed bold")


def test_attachments_are_counted_not_kept():
    body = body_of(build("See the files.", attachments=2))
    assert body.text == "See the files."
    assert body.attachments == 2


def test_unknown_charset_and_control_characters_are_survived():
    raw = (
        b"From: a@example.com\r\nContent-Type: text/plain; charset=x-no-such\r\n\r\n"
        b"caf\xe9 \x00nul\r\nline\x1b two\r\n"
    )
    assert body_of(raw).text == "caf\ufffd nul\nline two"


def test_clean_text_drops_what_no_database_stores():
    assert clean_text("a\x00b\ud800c\r\nd\re\tf") == "abc\nd\ne\tf"


def test_shorten_keeps_the_beginning_and_says_so():
    cut = shorten("x" * 20_000, 10_000)
    assert len(cut) <= 10_000
    assert cut.startswith("x" * 9_000)
    assert cut.endswith(SHORTENED)
    assert shorten("short", 10) == "short"
