from django.apps import AppConfig


class EhrConfig(AppConfig):
    name = "ehr"
    verbose_name = "EHR integration (FHIR API, SMART, HL7 feed)"
