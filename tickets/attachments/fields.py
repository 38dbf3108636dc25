"""The form field for several files: checked (``uploads.check_files``) as the form is cleaned,
so a refused file is an error next to the field and everything else typed is kept."""

from __future__ import annotations

from django import forms

from tickets.attachments.uploads import Upload, check_files, limits_text


class MultipleFileInput(forms.FileInput):
    allow_multiple_selected = True


class AttachmentsField(forms.Field):
    """Zero or more files; cleans to a list of checked ``Upload``s."""

    widget = MultipleFileInput

    def __init__(self, *, label: str = "Attach files (optional)", **kwargs):
        kwargs.setdefault("required", False)
        super().__init__(label=label, **kwargs)

    def bound_data(self, data, initial):
        return initial  # a browser cannot re-fill a file input; nothing to show

    def clean(self, value) -> list[Upload]:
        files = [f for f in (value or []) if f is not None and getattr(f, "name", None)]
        if not files:
            return []
        return check_files([(f, f.name) for f in files])

    def has_changed(self, initial, data) -> bool:
        return bool(data)


class AttachmentsFormMixin:
    """A form with an ``attachments`` field. ``chosen_files`` are the names of the files that
    were sent: when the form is shown again the browser has forgotten them, so the page asks
    for them again (``includes/attachments_field.html``)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["attachments"].help_text = limits_text()
        key = self.add_prefix("attachments")
        self.chosen_files = [f.name for f in self.files.getlist(key)] if self.is_bound else []
