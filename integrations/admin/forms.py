"""The admin's forms: the reason asked for a suppression, and the event page's help."""

from __future__ import annotations

from django import forms

from ..models import Event


class SuppressForm(forms.Form):
    reason = forms.CharField(
        max_length=400,
        widget=forms.TextInput(attrs={"size": 60, "autofocus": True}),
        help_text="Shown on every event suppressed, and in the admin log.",
    )


def field_help(method: str, field: str) -> tuple[str, str]:
    return method, str(getattr(Event._meta.get_field(field), "help_text", ""))


class EventPageForm(forms.ModelForm):  # type: ignore[type-arg]
    """The event page has nothing to fill in. Its moments are display methods, so
    the admin would show no help for them: this names each field's own."""

    class Meta:
        help_texts = dict(
            field_help(method, field)
            for method, field in (
                ("event_time", "timestamp"),
                ("received", "received_at"),
                ("delivered", "delivered_at"),
                ("next_attempt", "next_attempt_at"),
            )
        ) | {
            "first_attempt": "The first attempt ever made. After a retry or replay, the "
            "round's own first attempt follows: the retry window runs from it."
        }
