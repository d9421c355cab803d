"""What the admin refuses before it reaches the database: values no column can hold.

A NUL character in a query string or form value (PostgreSQL refuses it in any
text), or a selected id that is no id, would otherwise raise inside a query:
a 500 for a staff member's typo or a crafted link. ``GuardedAdmin`` answers
400 instead; the customer page, which takes an email from its URL, answers
404 (``customer_email``).
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.admin import helpers
from django.core.exceptions import ValidationError
from django.db import models
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest

# The ids an admin action may be given: within a 64-bit key's range.
ID_RANGE = range(-(2**63), 2**63)
# The longest email any column holds.
MAX_EMAIL = 254


def refusal(request: HttpRequest, model: type[models.Model]) -> HttpResponse | None:
    """400 when the request's query or form holds a NUL, or a selected id that is no id of
    ``model``; else None."""
    for data in (request.GET, request.POST):
        for key, values in data.lists():
            if "\x00" in key or any("\x00" in value for value in values):
                return HttpResponseBadRequest("A value holds a NUL character.")
    field = model._meta.pk
    assert field is not None
    for value in request.POST.getlist(helpers.ACTION_CHECKBOX_NAME):
        try:
            pk = field.to_python(value)
        except ValidationError:
            return HttpResponseBadRequest(f"A selected id is not an id: {value[:40]!r}.")
        if isinstance(pk, int) and pk not in ID_RANGE:
            return HttpResponseBadRequest(f"A selected id is out of range: {value[:40]!r}.")
    return None


def customer_email(email: str) -> str:
    """The email a customer page's URL names, lower-cased; Http404 when it cannot be one."""
    email = email.strip().lower()
    if not email or len(email) > MAX_EMAIL or not email.isprintable():
        raise Http404("No customer has this email.")
    return email


class GuardedAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """A ModelAdmin whose list (its filters, search and actions) refuses what ``refusal``
    refuses. Its object pages need nothing more: ``get_object`` already turns an id that
    is no id into a 404."""

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        if refused := refusal(request, self.model):
            return refused
        return super().changelist_view(request, extra_context)
