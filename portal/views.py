"""The staff portal's pages. Thin views: a form, one service call, a render.

HTMX requests get a named partial of the same template ("today.html#slots"), everything
else the whole page, so every link and form also works without JavaScript.
"""

import uuid

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required, permission_required
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render, resolve_url
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_POST
from django_htmx.http import trigger_client_event

from clinic.audit import acting_as, actor_patient_sms, actor_patient_voice
from clinic.models import Patient, Provider
from clinic.services import patient_set_offer_channel
from messaging import services as messaging
from messaging import voice
from messaging.models import Message
from messaging.selectors import send_trouble
from offers import approval, rules, staff_picks
from offers import services as engine
from offers.models import OfferRule, Slot
from portal import charts, selectors
from portal import services as staff_services
from portal.forms import (
    OfferChannelForm,
    OfferRuleForm,
    ReasonForm,
    RulePreviewForm,
    SimulatorForm,
    SlotForm,
    StaffActiveForm,
    StaffCreateForm,
    StaffRoleForm,
)
from portal.middleware import sign_out_idle


def _error_text(exc: ValidationError) -> str:
    return " ".join(exc.messages)


def _slots_context(page_number):
    # The outage banner lives in the polled partial, so staff see it appear and clear.
    # Bookings awaiting approval come first (offers/approval.py), overdue ones alert.
    return {"page": selectors.today_slots_page(page_number=page_number),
            "pending": approval.pending_bookings(),
            "approval_alert_minutes": settings.APPROVAL_ALERT_MINUTES,
            "trouble": send_trouble(), "sms_hours": selectors.sms_hours_label(),
            "phone_fill_undo_minutes": settings.PHONE_FILL_UNDO_SECONDS // 60}


def _today_context(request, form=None):
    return {**_slots_context(request.GET.get("page")), "form": form or SlotForm()}


@login_required
@permission_required("offers.view_slot", raise_exception=True)
def today(request):
    if request.htmx and request.htmx.target == "slots":
        return render(request, "portal/today.html#slots", _slots_context(request.GET.get("page")))
    return render(request, "portal/today.html", _today_context(request))


@require_POST
@login_required
@permission_required("offers.add_slot", raise_exception=True)
def slot_create(request):
    form = SlotForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            slot = engine.slot_open(
                provider=data["provider"], start=data["start"], end=data["end"],
                appointment_type=data["appointment_type"], location=data["provider"].location,
                source=Slot.Source.PORTAL, recorded_by=request.user,
            )
        except ValidationError as exc:
            form.add_error(None, _error_text(exc))
        else:
            if form.too_soon:
                messages.warning(request, f"Recorded {slot}. It starts too soon to offer by "
                                          "text: call patients.")
            else:
                messages.success(request, f"Recorded {slot}. Offers are going out.")
            if not request.htmx:
                return redirect("portal:today")
            response = render(request, "portal/today.html#record_form", {"form": SlotForm()})
            return trigger_client_event(response, "slotsChanged")
    if request.htmx:
        return render(request, "portal/today.html#record_form", {"form": form})
    return render(request, "portal/today.html", _today_context(request, form), status=400)


def _today_slots_answer(request):
    """After an action on a slot card: the slots partial for htmx, else back to Today."""
    if request.htmx:
        return render(request, "portal/today.html#slots",
                      _slots_context(request.POST.get("page")))
    return redirect("portal:today")


def _slot_action(request, slot_id, action, done: str):
    slot = get_object_or_404(Slot, pk=slot_id)
    form = ReasonForm(request.POST)
    reason = form.cleaned_data["reason"] if form.is_valid() else ""
    try:
        action(slot=slot, reason=reason)
    except ValidationError as exc:
        messages.error(request, _error_text(exc))
    else:
        messages.success(request, f"{slot}: {done}")
    return _today_slots_answer(request)


@require_POST
@login_required
@permission_required("offers.change_slot", raise_exception=True)
def slot_withdraw(request, slot_id):
    def withdraw(*, slot, reason):
        engine.slot_withdraw(slot=slot, by=request.user, reason=reason or "Withdrawn by staff")
    return _slot_action(request, slot_id, withdraw, "withdrawn; live offers were closed.")


@require_POST
@login_required
@permission_required("offers.change_slot", raise_exception=True)
def slot_mark_filled(request, slot_id):
    def fill(*, slot, reason):
        entry = None
        offer_id = request.POST.get("offer")
        if offer_id:
            offer = slot.offers.select_related("entry").filter(pk=offer_id).first()
            entry = offer.entry if offer else None
        engine.slot_mark_filled_by_phone(slot=slot, by=request.user, entry=entry,
                                         reason=reason or "Filled by phone")
    minutes = settings.PHONE_FILL_UNDO_SECONDS // 60
    return _slot_action(request, slot_id, fill,
                        f"marked filled by phone. Patients holding an offer are told in "
                        f"{minutes} minutes; until then you can undo it.")


@require_POST
@login_required
@permission_required("offers.change_slot", raise_exception=True)
def slot_fill_undo(request, slot_id):
    def undo(*, slot, reason):
        engine.slot_phone_fill_undo(slot=slot, by=request.user)
    return _slot_action(request, slot_id, undo,
                        "filled by phone undone; it is offered again, nobody was told.")


@require_POST
@login_required
@permission_required("offers.change_slot", raise_exception=True)
def slot_offer_more(request, slot_id):
    def more(*, slot, reason):
        sent = engine.slot_offer_more(slot=slot, by=request.user)
        if not sent:
            raise ValidationError("Nobody else on the waitlist fits this slot right now.")
    return _slot_action(request, slot_id, more, "offered to more patients.")


def _booking_action(request, offer_id, action, done: str):
    try:
        offer = action(offer_id=offer_id)
    except ValidationError as exc:
        messages.error(request, _error_text(exc))
    else:
        messages.success(request, f"{offer.slot}: {done}")
    return _today_slots_answer(request)


@require_POST
@login_required
@permission_required("offers.change_slot", raise_exception=True)
def booking_approve(request, offer_id):
    def approve(*, offer_id):
        return approval.booking_approve(offer_id=offer_id, by=request.user)
    return _booking_action(request, offer_id, approve,
                           "booking approved; the patient is texted the confirmation.")


@require_POST
@login_required
@permission_required("offers.change_slot", raise_exception=True)
def booking_decline(request, offer_id):
    form = ReasonForm(request.POST)
    reason = form.cleaned_data["reason"] if form.is_valid() else ""

    def decline(*, offer_id):
        return approval.booking_decline(offer_id=offer_id, by=request.user, reason=reason)
    return _booking_action(request, offer_id, decline,
                           "booking declined; the patient is told, and the slot goes to "
                           "the next patient.")


@require_POST
@login_required
@permission_required("offers.change_slot", raise_exception=True)
def slot_offer_picked(request, slot_id):
    entry_ids = [int(v) for v in request.POST.getlist("entry") if v.isdigit()]

    def pick(*, slot, reason):
        staff_picks.slot_offer_picked(slot=slot, entry_ids=entry_ids, by=request.user)
    return _slot_action(request, slot_id, pick, "offered to the patients you ticked.")


# --- Clinic rules (managers) -----------------------------------------------------------
def _rules_page(request, *, form=None, editing=None, status=200):
    # Prefixed: the page's other form has fields of the same names (and ids).
    preview_form = RulePreviewForm(request.GET if "preview-provider" in request.GET else None,
                                   prefix="preview")
    preview = None
    if preview_form.is_bound and preview_form.is_valid():
        preview = rules.rule_for_scope(**preview_form.cleaned_data)
    context = {"rules": rules.rules_list(), "form": form or OfferRuleForm(instance=editing),
               "editing": editing, "preview_form": preview_form, "preview": preview,
               "history": rules.rules_history()}
    if request.htmx and request.htmx.target == "rule-preview":
        return render(request, "portal/rules.html#preview", context)
    return render(request, "portal/rules.html", context, status=status)


@login_required
@permission_required("offers.view_offerrule", raise_exception=True)
def rules_page(request):
    return _rules_page(request)


@require_http_methods(["GET", "POST"])
@login_required
@permission_required(["offers.add_offerrule", "offers.change_offerrule"],
                     raise_exception=True)
def rule_edit(request, rule_id=None):
    rule = get_object_or_404(OfferRule, pk=rule_id) if rule_id else None
    if request.method == "GET":
        return _rules_page(request, editing=rule)
    form = OfferRuleForm(request.POST, instance=rule)
    if not form.is_valid():
        return _rules_page(request, form=form, editing=rule, status=400)
    saved = rules.rule_save(rule=form.save(commit=False), by=request.user)
    messages.success(request, f"Saved the rule for {saved}.")
    return redirect("portal:rules")


@require_POST
@login_required
@permission_required("offers.delete_offerrule", raise_exception=True)
def rule_delete(request, rule_id):
    rule = get_object_or_404(OfferRule, pk=rule_id)
    name = str(rule)
    rules.rule_delete(rule=rule, by=request.user)
    messages.success(request, f"Deleted the rule for {name}: the defaults apply there.")
    return redirect("portal:rules")


@require_POST
def idle_sign_out(request):
    """The page's idle timer ran out (static/js/portal.js): sign out, say why on the login
    page, and come back to the same page after signing in again."""
    sign_out_idle(request)
    next_url = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()},
                                           require_https=request.is_secure()):
        next_url = resolve_url("portal:today")
    return redirect_to_login(next_url)


@login_required
@permission_required("clinic.view_patient", raise_exception=True)
def patient_detail(request, patient_id):
    patient = get_object_or_404(Patient, pk=patient_id)
    context = {
        "patient": patient,
        "thread": selectors.patient_messages_page(
            patient=patient, page_number=request.GET.get("messages")),
        "offers": selectors.patient_offers_page(
            patient=patient, page_number=request.GET.get("offers")),
        "entries": selectors.patient_entries_page(
            patient=patient, page_number=request.GET.get("entries")),
        "audit": selectors.patient_audit_page(patient=patient,
                                              page_number=request.GET.get("audit")),
        "channel_form": OfferChannelForm(initial={"offer_channel": patient.offer_channel}),
    }
    if request.htmx and request.htmx.target == "thread":
        return render(request, "portal/patient.html#thread", context)
    return render(request, "portal/patient.html", context)


@require_POST
@login_required
@permission_required("clinic.change_patient", raise_exception=True)
def patient_offer_channel(request, patient_id):
    """Staff choose whether offers reach the patient by text, by call, or a text then a
    call (audited as theirs)."""
    patient = get_object_or_404(Patient, pk=patient_id)
    form = OfferChannelForm(request.POST)
    if form.is_valid():
        channel = form.cleaned_data["offer_channel"]
        if patient_set_offer_channel(patient=patient, offer_channel=channel, by=request.user,
                                     reason="Staff changed how offers reach the patient"):
            messages.success(request, f"Offers to {patient} now go by: "
                                      f"{patient.get_offer_channel_display().lower()}.")
    return redirect("portal:patient", patient_id=patient.pk)


@login_required
@permission_required("offers.view_reports", raise_exception=True)
def reports(request):
    try:
        weeks = min(max(int(request.GET.get("weeks", 12)), 1), 52)
    except ValueError:
        weeks = 12
    providers = Provider.objects.order_by("name")
    provider_id = request.GET.get("provider", "")
    provider = providers.filter(pk=provider_id).first() if provider_id.isdigit() else None
    report = selectors.fill_report(weeks=weeks, provider=provider)
    week_chart = charts.stacked_columns(
        [(f"{monday:%b %-d}", filled, unfilled) for monday, filled, unfilled in report["weeks"]])
    provider_chart = charts.stacked_bars(report["providers"])
    return render(request, "portal/reports.html", {
        "report": report, "weeks": weeks, "providers": providers, "provider": provider,
        "week_chart": week_chart, "provider_chart": provider_chart,
        "week_choices": (4, 8, 12, 26, 52),
    })


def _simulator_enabled():
    # A way to act as any patient's phone: it must not exist where real SMS flow.
    if settings.SMS_BACKEND != "console":
        raise Http404("The SMS simulator exists only with the console SMS backend.")


@require_http_methods(["GET", "POST"])
@login_required
@permission_required("messaging.view_message", raise_exception=True)
def simulator(request):
    _simulator_enabled()
    patient = None
    initial = {}
    if (request.GET.get("patient") or "").isdigit():
        patient = Patient.objects.filter(pk=request.GET["patient"]).first()
        if patient:
            initial["phone"] = patient.phone_display
    form = SimulatorForm(initial=initial)
    reply = None
    if request.method == "POST":
        form = SimulatorForm(request.POST)
        if form.is_valid():
            # Exactly what the Twilio webhook does with an inbound SMS, and audited the
            # same way: as the patient's, by SMS (simulated), not the signed-in user's.
            phone = form.cleaned_data["phone"]
            with acting_as(actor_patient_sms(phone, simulated=True)):
                reply = messaging.inbound_handle(
                    from_number=phone, to_number=messaging.clinic_sms_number(),
                    body=form.cleaned_data["body"], sid=f"SIM{uuid.uuid4().hex}",
                )
            patient = form.patient
            form = SimulatorForm(initial={"phone": patient.phone_display if patient
                                          else form.cleaned_data["phone"]})
    context = _simulator_context(request, form=form, patient=patient, reply=reply)
    if request.htmx and request.htmx.target == "holders":
        return render(request, "portal/simulator.html#holders", context)
    if request.htmx:
        response = render(request, "portal/simulator.html#phone", context)
        if reply is not None:
            # The list of patients holding an offer reloads itself on this event.
            trigger_client_event(response, "simulatorReplied")
        return response
    return render(request, "portal/simulator.html", context)


def _simulator_context(request, *, form, patient, reply=None, call=None, turn=None) -> dict:
    return {"form": form, "patient": patient, "reply": reply,
            "holders": selectors.simulator_patients_page(
                page_number=request.GET.get("holders")),
            "thread": selectors.patient_messages_page(patient=patient, page_number=1)
            if patient else None,
            "ringing": selectors.simulator_ringing_call(patient=patient) if turn is None
            else None,
            "call": call, "turn": turn}


@require_POST
@login_required
@permission_required("messaging.view_message", raise_exception=True)
def simulator_call(request):
    """The simulated phone answers a simulated call, or presses a key on it: exactly what
    Twilio's voice webhooks do (messaging/voice.py), audited as the patient's, by phone."""
    _simulator_enabled()
    call = get_object_or_404(Message, pk=request.POST.get("call", ""),
                             channel=Message.Channel.VOICE, direction=Message.Direction.OUT)
    patient = call.patient
    step = request.POST.get("step", "1")
    with acting_as(actor_patient_voice(call.to_number, simulated=True)):
        if request.POST.get("action") == "answer":
            turn = voice.voice_call_answered(message_id=call.pk, call_sid=call.twilio_sid,
                                             answered_by="human")
        else:
            turn = voice.voice_keypress(message_id=call.pk, call_sid=call.twilio_sid,
                                        step=int(step) if step.isdigit() else 1,
                                        digits=request.POST.get("digits", "")[:1])
    form = SimulatorForm(initial={"phone": patient.phone_display if patient else ""})
    context = _simulator_context(request, form=form, patient=patient, call=call, turn=turn)
    if request.htmx:
        response = render(request, "portal/simulator.html#phone", context)
        trigger_client_event(response, "simulatorReplied")
        return response
    return render(request, "portal/simulator.html", context)


# --- Staff (managers) ----------------------------------------------------------------------
def _staff_page(request, form=None, status=200):
    return render(request, "portal/staff.html", {
        "page": selectors.staff_page(page_number=request.GET.get("page")),
        "form": form or StaffCreateForm(), "roles": staff_services.PORTAL_ROLES,
    }, status=status)


@login_required
@permission_required("auth.change_user", raise_exception=True)
def staff(request):
    return _staff_page(request)


@require_POST
@login_required
@permission_required(["auth.add_user", "auth.change_user"], raise_exception=True)
def staff_create(request):
    form = StaffCreateForm(request.POST)
    if not form.is_valid():
        return _staff_page(request, form, status=400)
    data = form.cleaned_data
    user = staff_services.staff_create(
        username=data["username"], first_name=data["first_name"],
        last_name=data["last_name"], password=data["password1"], role=data["role"],
        by=request.user)
    messages.success(request, f"Added {user.get_username()} as {data['role'].lower()}.")
    return redirect("portal:staff")


def _staff_change(request, user_id, form_class, change):
    user = get_object_or_404(get_user_model(), pk=user_id)
    form = form_class(request.POST)
    try:
        if not form.is_valid():
            raise ValidationError(" ".join(e for errors in form.errors.values() for e in errors))
        done = change(user=user, **form.cleaned_data)
    except ValidationError as exc:
        messages.error(request, f"{user.get_username()}: {_error_text(exc)}")
    else:
        messages.success(request, f"{user.get_username()}: {done}")
    return redirect("portal:staff")


@require_POST
@login_required
@permission_required("auth.change_user", raise_exception=True)
def staff_set_role(request, user_id):
    def change(*, user, role):
        staff_services.staff_set_role(user=user, role=role, by=request.user)
        return f"now {role.lower()}."
    return _staff_change(request, user_id, StaffRoleForm, change)


@require_POST
@login_required
@permission_required("auth.change_user", raise_exception=True)
def staff_set_active(request, user_id):
    def change(*, user, active):
        staff_services.staff_set_active(user=user, active=active, by=request.user)
        return "reactivated: they can sign in again." if active else \
            "deactivated: they are signed out and cannot sign in."
    return _staff_change(request, user_id, StaffActiveForm, change)
