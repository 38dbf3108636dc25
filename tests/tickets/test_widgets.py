"""The Python-written select widgets give Django's template markup exactly."""

from __future__ import annotations

from datetime import date

import pytest
from django import forms
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy

from tickets import widgets

CHOICES = [
    ("", "Any <thing> & more"),
    (1, "One"),
    ("two", gettext_lazy("Two")),
    ('q"uote', mark_safe("<b>safe</b>")),
    ("Group & co", [("g1", "G1"), (3, "Three")]),
    (None, "None value"),
]
CASES = [
    ({}, None, None),
    ({}, "1", {"id": "id_x"}),
    ({"size": 5}, ["two", "g1"], {"id": "id_x", "required": True, "disabled": False}),
    ({"class": "a b", "data-x": 'y"z'}, [3, 'q"uote'], {"aria-describedby": "x-error"}),
    ({}, "nothing-matches", None),
]


@pytest.mark.parametrize(
    ("ours", "django"),
    [(widgets.Select, forms.Select), (widgets.SelectMultiple, forms.SelectMultiple)],
)
@pytest.mark.parametrize(("widget_attrs", "value", "attrs"), CASES)
def test_same_markup_as_djangos_templates(ours, django, widget_attrs, value, attrs):
    for choices in (CHOICES, [], [("only", "Only")]):
        expected = django(attrs=widget_attrs, choices=choices).render("na<me", value, attrs)
        assert ours(attrs=widget_attrs, choices=choices).render("na<me", value, attrs) == expected


INPUT_VALUES = [None, "", "plain", 'q"uote <b> & co', mark_safe("<i>safe</i>"), 7, date(2025, 3, 1)]


@pytest.mark.parametrize(
    ("ours", "django"),
    [
        (widgets.TextInput, forms.TextInput),
        (widgets.DateInput, forms.DateInput),
        (widgets.HiddenInput, forms.HiddenInput),
        (widgets.Textarea, forms.Textarea),
    ],
)
@pytest.mark.parametrize("value", INPUT_VALUES)
def test_inputs_give_the_same_markup_as_djangos_templates(ours, django, value):
    for widget_attrs, attrs in [
        (None, None),
        ({"type": "search", "placeholder": 'Say "hi" & <go>'}, {"id": "id_q"}),
        ({"rows": 5, "required": True, "disabled": False}, {"aria-invalid": "true"}),
    ]:
        expected = django(attrs=widget_attrs).render("na<me", value, attrs)
        assert ours(attrs=widget_attrs).render("na<me", value, attrs) == expected


def test_a_customised_template_is_still_honoured():
    class Custom(widgets.Select):
        option_template_name = "django/forms/widgets/select_option.html"
        template_name = "django/forms/widgets/text.html"

    assert Custom().render("x", "v").startswith("<input")
