"""Select widgets that write Django's own markup in Python.

Django renders a select through its template engine, with two template includes per option
(``select_option.html`` and ``attrs.html``). The dashboard's filter form has about twenty
options and the staff ticket form a dozen, which made widget rendering the largest single cost
of a dashboard page after the table. These widgets produce exactly the markup of Django's
templates (tests compare the two, byte for byte) from the same ``get_context``.
"""

from __future__ import annotations

from django import forms
from django.utils.formats import localize
from django.utils.html import conditional_escape
from django.utils.safestring import SafeData, mark_safe

_SELECT = "django/forms/widgets/select.html"
_OPTION = "django/forms/widgets/select_option.html"


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
