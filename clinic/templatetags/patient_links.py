"""`{% patient_url patient_id %}`: the staff page of a patient, for the apps' own templates
(the waitlist links its patients there) without naming the app that serves it: the URL
name is settings.PATIENT_PAGE_URL_NAME ("portal:patient")."""

from django import template
from django.conf import settings
from django.urls import reverse

register = template.Library()


@register.simple_tag
def patient_url(patient_id) -> str:
    return reverse(settings.PATIENT_PAGE_URL_NAME, args=[patient_id])
