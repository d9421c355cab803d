"""Erasure requests: the page that erases or suppresses a customer (behind a confirmation
and a permission of its own), the records requests leave, and the suppressed hashes."""

from __future__ import annotations

from typing import Any, ClassVar

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.translation import ngettext

from .. import erasure
from ..exceptions import ErasureError
from ..models import ErasureRequest, Suppression
from .display import moment
from .guards import GuardedAdmin, refusal

KINDS = (
    ("delete", "Delete their data"),
    ("both", "Delete their data and refuse their later calls"),
    ("suppress", "Refuse their later calls; delete nothing"),
    ("unsuppress", "Lift a suppression"),
)


class ErasureForm(forms.Form):
    email = forms.CharField(required=False, max_length=254, help_text="Any email they had.")
    user_id = forms.CharField(required=False, max_length=255, label="userId")
    kind = forms.ChoiceField(choices=KINDS, widget=forms.RadioSelect, initial="delete")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        try:
            erasure.named(data.get("email"), data.get("user_id"))
        except ErasureError as error:
            raise forms.ValidationError(str(error)) from error
        return data


@admin.register(ErasureRequest)
class ErasureRequestAdmin(GuardedAdmin):
    list_display = ("__str__", "kind", "requested_by", "requested", "finished", "seg_step")
    list_filter = ("kind",)
    # Last, the step left to do at Seg in the list's words, then when it was done.
    readonly_fields: ClassVar[tuple[str, ...]] = ("kind", "requested_by", "requested")
    readonly_fields += ("finished", "counts", "digests", "seg_step", "seg_told_at")
    fields = readonly_fields
    actions = ("mark_seg_told",)
    change_list_template = "admin/integrations/erasurerequest/change_list.html"
    requested = moment(ErasureRequest, "requested_at")
    finished = moment(ErasureRequest, "finished_at")

    @admin.display(description="Seg told")
    def seg_step(self, obj: ErasureRequest) -> str:
        if not obj.seg_to_tell:
            return "not needed"
        return "still to do" if obj.seg_step_open else f"done by {obj.seg_told_by}"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # requests are made on the erase page

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # the record of a request is kept

    def has_erase_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("integrations.erase_customer")

    @admin.action(
        description="Mark Seg as told (asked to erase the customer)", permissions=["erase"]
    )
    def mark_seg_told(self, request: HttpRequest, queryset: Any) -> None:
        done = sum(erasure.mark_seg_told(record, str(request.user)) for record in queryset)
        message = ngettext("%d request marked Seg told.", "%d requests marked Seg told.", done)
        self.message_user(request, message % done, messages.SUCCESS)

    def get_urls(self) -> list[URLPattern]:
        erase = path(
            "erase/",
            self.admin_site.admin_view(self.erase_view),
            name="integrations_erasurerequest_erase",
        )
        return [erase, *super().get_urls()]

    def erase_view(self, request: HttpRequest) -> HttpResponse:
        """The form; on POST its confirmation page (what would go); on confirm, the request."""
        if not self.has_erase_permission(request):
            raise PermissionDenied
        if refused := refusal(request, self.model):
            return refused
        form = ErasureForm(request.POST if request.method == "POST" else None)
        context: dict[str, Any] = {
            **self.admin_site.each_context(request),
            "title": "Erase a customer",
            "opts": self.model._meta,
            "form": form,
        }
        if request.method != "POST" or not form.is_valid():
            return TemplateResponse(
                request, "admin/integrations/erasurerequest/erase.html", context
            )
        email, user_id = form.cleaned_data["email"], form.cleaned_data["user_id"]
        kind = form.cleaned_data["kind"]
        try:
            customer = erasure.reach(erasure.named(email, user_id))
        except ErasureError as error:
            form.add_error(None, str(error))
            return TemplateResponse(
                request, "admin/integrations/erasurerequest/erase.html", context
            )
        if request.POST.get("confirmed") != "yes":
            context |= {
                "kind": dict(KINDS)[kind],
                "events": customer.events().count() if kind in ("delete", "both") else None,
                "ids": customer.size(),
            }
            return TemplateResponse(
                request, "admin/integrations/erasurerequest/confirm.html", context
            )
        by = str(request.user)
        if kind == "unsuppress":
            record = erasure.unsuppress(email, user_id, by=by)
        else:
            record = erasure.erase(
                email,
                user_id,
                delete=kind in ("delete", "both"),
                suppress=kind in ("suppress", "both"),
                by=by,
            )
        self.log_addition(request, record, [{"added": {}}])
        counts = ", ".join(f"{n} {name}" for name, n in record.counts.items()) or "nothing"
        message = f"Request {record.pk} carried out: {counts}."
        if record.seg_step_open:
            message += " Seg keeps its own copy: ask Seg to erase this customer, then mark it told."
        self.message_user(request, message, messages.SUCCESS)
        return HttpResponseRedirect(
            reverse("admin:integrations_erasurerequest_change", args=[record.pk])
        )


@admin.register(Suppression)
class SuppressionAdmin(GuardedAdmin):
    list_display = ("__str__", "refused", "request", "created")
    readonly_fields = ("digest", "refused", "request", "created")
    fields = readonly_fields
    created = moment(Suppression, "created_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # made by erasure requests, lifted by an unsuppress request

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
