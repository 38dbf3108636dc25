"""End to end in Chromium: a customer attaches two files on the public form; an agent sees the
image as a thumbnail and downloads both, byte for byte."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.attachments.conftest import PDF, png_bytes
from tests.e2e.test_flows import sign_in
from tests.factories import UserFactory
from tickets.models import Attachment, Ticket

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True, databases="__all__"),
]
expect = pytest.importorskip("playwright.sync_api", reason="needs the playwright package").expect


def test_two_files_from_the_public_form_download_as_staff(new_page, tech):
    customer = new_page()
    customer.goto("/")
    customer.get_by_label("Your name").fill("Ada Lovelace")
    customer.get_by_label("Email address").fill("ada@example.com")
    customer.get_by_label(tech.label, exact=True).check()
    customer.get_by_label("Subject").fill("Printer shows an error")
    customer.get_by_label("Message").fill("The screen and the invoice are attached.")
    picture = png_bytes(8, 8)
    customer.get_by_label("Attach files (optional)").set_input_files(
        [
            {"name": "screenshot.png", "mimeType": "image/png", "buffer": picture},
            {"name": "invoice.pdf", "mimeType": "application/pdf", "buffer": PDF},
        ]
    )
    customer.get_by_role("button", name="Send ticket").click()
    expect(customer.get_by_role("heading", name="Ticket received")).to_be_visible()
    reference = customer.get_by_test_id("reference").inner_text()
    ticket = Ticket.objects.using(tech.alias).get(reference=reference)
    assert Attachment.objects.using(tech.alias).filter(ticket_id=ticket.pk).count() == 2

    UserFactory(username="agent", departments=[tech])
    staff = new_page(accept_downloads=True)
    sign_in(staff, "agent", goto=f"/t/{reference}/")
    expect(staff.get_by_role("heading", name="Printer shows an error")).to_be_visible()
    thumbnail = staff.locator("img.attachment-thumb")
    expect(thumbnail).to_have_count(1)
    # The thumbnail loads lazily: scrolled into view, then waited for until it has decoded.
    thumbnail.scroll_into_view_if_needed()
    staff.wait_for_function(
        "() => { const img = document.querySelector('img.attachment-thumb');"
        " return img && img.complete && img.naturalWidth > 0; }"
    )
    assert thumbnail.evaluate("img => img.naturalWidth") == 8

    for name, content in (("screenshot.png", picture), ("invoice.pdf", PDF)):
        with staff.expect_download() as caught:
            staff.get_by_role("link", name=re.compile(re.escape(name))).click()
        download = caught.value
        assert download.suggested_filename == name
        assert Path(download.path()).read_bytes() == content
