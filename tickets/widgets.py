"""Form widgets that write Django's own markup in Python.

Django renders every widget through its template engine: a select makes two template includes
per option (``select_option.html`` and ``attrs.html``), an input two includes. The dashboard's
filter form (five selects with about twenty options, three inputs) and the staff ticket form
made widget rendering the largest single cost of a dashboard page after the table. These
widgets produce exactly the markup of Django's templates (tests compare the two, byte for byte)
from the same ``get_context``; a widget given another template renders Django's way.
"""

from __future__ import annotations

from django import forms
from django.utils.formats import localize
from django.utils.html import conditional_escape
from django.utils.safestring import SafeData, mark_safe

_SELECT = "django/forms/widgets/select.html"
_OPTION = "django/forms/widgets/select_option.html"
_TEXTAREA = "django/forms/widgets/textarea.html"
# Templates that are nothing but {% include "django/forms/widgets/input.html" %}.
_INPUTS = frozenset(
    f"django/forms/widgets/{name}.html" for name in ("input", "text", "date", "hidden")
)


def _text(value) -> str:
    """``{{ value }}``: localized, then escaped unless already safe."""
    return conditional_escape(localize(value))


def _format(value) -> str:
    """``{{ value|stringformat:'s' }}``."""
    if isinstance(value, SafeData):
        return conditional_escape(value)
    return conditional_escape(str(value))  # what "%s" % value gives


def _attrs(attrs: dict) -> str:
    """django/forms/widgets/attrs.html."""
    parts = []
    for name, value in attrs.items():
        if value is False:
            continue
        parts.append(f" {_text(name)}" if value is True else f' {_text(name)}="{_format(value)}"')
    return "".join(parts)


class _PythonSelect:
    def render(self, name, value, attrs=None, renderer=None):
        if self.template_name != _SELECT or self.option_template_name != _OPTION:
            return super().render(name, value, attrs, renderer)  # customised: Django's way
        widget = self.get_context(name, value, attrs)["widget"]
        out = [f'<select name="{_text(widget["name"])}"{_attrs(widget["attrs"])}>']
        for group_name, options, _index in widget["optgroups"]:
            if group_name:
                out.append(f'\n  <optgroup label="{_text(group_name)}">')
            for option in options:
                out.append(
                    f'\n  <option value="{_format(option["value"])}"{_attrs(option["attrs"])}>'
                    f"{_text(option['label'])}</option>\n"
                )
            if group_name:
                out.append("\n  </optgroup>")
        out.append("\n</select>")
        return mark_safe("".join(out))


class Select(_PythonSelect, forms.Select):
    pass


class SelectMultiple(_PythonSelect, forms.SelectMultiple):
    pass


class _PythonInput:
    def render(self, name, value, attrs=None, renderer=None):
        if self.template_name not in _INPUTS:
            return super().render(name, value, attrs, renderer)
        widget = self.get_context(name, value, attrs)["widget"]
        shown = "" if widget["value"] is None else f' value="{_format(widget["value"])}"'
        return mark_safe(
            f'<input type="{_text(widget["type"])}" name="{_text(widget["name"])}"{shown}'
            f"{_attrs(widget['attrs'])}>"
        )


class TextInput(_PythonInput, forms.TextInput):
    pass


class DateInput(_PythonInput, forms.DateInput):
    pass


class HiddenInput(_PythonInput, forms.HiddenInput):
    pass


class Textarea(forms.Textarea):
    def render(self, name, value, attrs=None, renderer=None):
        if self.template_name != _TEXTAREA:
            return super().render(name, value, attrs, renderer)
        widget = self.get_context(name, value, attrs)["widget"]
        text = _text(widget["value"]) if widget["value"] else ""
        return mark_safe(
            f'<textarea name="{_text(widget["name"])}"{_attrs(widget["attrs"])}>\n{text}</textarea>'
        )
