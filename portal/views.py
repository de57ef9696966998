from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.utils import timezone

from offers.models import Slot


@login_required
def today(request):
    slots = (
        Slot.objects.filter(start__gte=timezone.now())
        .select_related("provider", "appointment_type")
        .order_by("start")[:50]
    )
    return render(request, "portal/today.html", {"slots": slots})
