"""The waitlist pages: a ranked, searchable list; add, edit and remove entries.

Every write goes through waitlist/services.py, which audits it with a reason.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import Count, Exists, OuterRef, Subquery
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.html import format_html
from django.views.decorators.http import require_http_methods

from clinic.models import Patient
from waitlist import checkins, services
from waitlist.forms import EntryForm, NewEntryForm, RemoveForm, WaitlistFilterForm
from waitlist.models import CheckIn, WaitlistEntry
from waitlist.ranking import ranked, score_breakdown, score_components

PAGE_SIZE = 25
PRIORITIZE = "waitlist.prioritize_waitlistentry"


@login_required
@permission_required("waitlist.view_waitlistentry", raise_exception=True)
def entry_list(request):
    filters = WaitlistFilterForm(request.GET)
    if filters.shown() == "lapsed":
        return _lapsed_list(request, filters)
    # visits_waiting: how many appointments this patient waits for (one entry each).
    open_check_in = CheckIn.objects.filter(entry_id=OuterRef("pk"), status=CheckIn.Status.ASKED)
    visits = (WaitlistEntry.objects.filter(patient_id=OuterRef("patient_id"),
                                           status=WaitlistEntry.Status.ACTIVE)
              .values("patient_id").annotate(n=Count("pk")).values("n"))
    entries = filters.filter(
        WaitlistEntry.objects.filter(status=WaitlistEntry.Status.ACTIVE)
        .select_related("patient", "appointment_type")
        .prefetch_related("providers")
        .annotate(visits_waiting=Subquery(visits), check_in_open=Exists(open_check_in))
    )
    if filters.shown() == "check_in":
        entries = entries.filter(check_in_open=True)
    page = Paginator(ranked(entries), PAGE_SIZE).get_page(request.GET.get("page"))
    for entry in page.object_list:
        entry.breakdown = score_breakdown(entry)
        entry.components = score_components(entry)
    context = {"filters": filters, "page": page}
    if request.htmx and request.htmx.target == "entries":
        return render(request, "waitlist/list.html#entries", context)
    return render(request, "waitlist/list.html", context)


def _lapsed_list(request, filters):
    """Who an unanswered check-in took off the list (waitlist/checkins.py)."""
    page = Paginator(filters.filter(checkins.entries_lapsed()),
                     PAGE_SIZE).get_page(request.GET.get("page"))
    context = {"filters": filters, "page": page, "lapsed": True}
    if request.htmx and request.htmx.target == "entries":
        return render(request, "waitlist/list.html#entries", context)
    return render(request, "waitlist/list.html", context)


@require_http_methods(["GET", "POST"])
@login_required
@permission_required("waitlist.add_waitlistentry", raise_exception=True)
def entry_add(request):
    can_prioritize = request.user.has_perm(PRIORITIZE)
    initial = {}
    known = Patient.objects.filter(pk=request.GET.get("patient") or 0).first() \
        if (request.GET.get("patient") or "").isdigit() else None
    if known:
        initial = {"first_name": known.first_name, "last_name": known.last_name,
                   "phone": known.phone_display, "preferred_language": known.preferred_language}
    form = NewEntryForm(request.POST or None, initial=initial, can_prioritize=can_prioritize)
    if request.method == "POST" and form.is_valid():
        try:
            with transaction.atomic():
                entry = services.entry_add(
                    patient=form.patient(), by=request.user, for_name=form.for_name(),
                    reason=form.entry_reason(form.cleaned_data["reason"]),
                    **form.entry_values())
        except services.DuplicateEntry as exc:
            form.add_error(None, format_html(
                '{} <a href="{}">Open that entry</a>', exc.messages[0],
                reverse("waitlist:edit", args=[exc.existing.pk])))
        except ValidationError as exc:
            form.add_service_error(exc)
        else:
            messages.success(request, f"{entry.who} is on the waitlist.")
            return redirect("waitlist:list")
    return render(request, "waitlist/entry_form.html",
                  {"form": form, "can_prioritize": can_prioritize, "entry": None})


@require_http_methods(["GET", "POST"])
@login_required
@permission_required("waitlist.change_waitlistentry", raise_exception=True)
def entry_edit(request, entry_id):
    entry = get_object_or_404(WaitlistEntry.objects.select_related("patient"), pk=entry_id)
    can_prioritize = request.user.has_perm(PRIORITIZE)
    initial = {
        "any_provider": entry.any_provider, "providers": list(entry.providers.all()),
        "appointment_type": entry.appointment_type, "earliest_date": entry.earliest_date,
        "latest_date": entry.latest_date, "current_appointment_at": entry.current_appointment_at,
        "comment": entry.comment, "urgent": entry.urgent, "boost": entry.boost,
    }
    form = EntryForm(request.POST or None, initial=initial, can_prioritize=can_prioritize)
    if entry.status != WaitlistEntry.Status.ACTIVE:
        form.add_error(None, "This entry is no longer waiting, so it cannot be changed.")
    elif request.method == "POST" and form.is_valid():
        try:
            services.entry_update(entry=entry, by=request.user,
                                  reason=form.cleaned_data["reason"], **form.entry_values())
        except services.DuplicateEntry as exc:
            form.add_error(None, format_html(
                '{} <a href="{}">Open that entry</a>', exc.messages[0],
                reverse("waitlist:edit", args=[exc.existing.pk])))
        except ValidationError as exc:
            form.add_service_error(exc)
        else:
            messages.success(request, f"Saved {entry.patient}'s waitlist entry.")
            return redirect("waitlist:list")
    return render(request, "waitlist/entry_form.html", {
        "form": form, "can_prioritize": can_prioritize, "entry": entry,
        "remove_form": RemoveForm(),
    })


@require_http_methods(["GET", "POST"])
@login_required
@permission_required("waitlist.delete_waitlistentry", raise_exception=True)
def entry_remove(request, entry_id):
    entry = get_object_or_404(WaitlistEntry.objects.select_related("patient"), pk=entry_id)
    form = RemoveForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.entry_remove(entry=entry, by=request.user,
                                  reason=form.cleaned_data["reason"])
        except ValidationError as exc:
            form.add_error(None, exc.messages)
        else:
            messages.success(request, f"{entry.patient} was taken off the waitlist.")
            return redirect("waitlist:list")
    return render(request, "waitlist/entry_remove.html", {"form": form, "entry": entry})
