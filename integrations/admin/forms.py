"""The form an admin action asks for: the reason for a suppression."""

from __future__ import annotations

from django import forms


class SuppressForm(forms.Form):
    reason = forms.CharField(
        max_length=400,
        widget=forms.TextInput(attrs={"size": 60, "autofocus": True}),
        help_text="Shown on every event suppressed, and in the admin log.",
    )
