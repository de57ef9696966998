from django.apps import AppConfig


class EhrConfig(AppConfig):
    name = "ehr"
    verbose_name = "EHR integration (FHIR API, SMART, HL7 feed)"

    def ready(self):
        from ehr import chain
        from offers import signals

        signals.slot_booked.connect(chain.on_slot_booked, dispatch_uid="ehr-chain-fill")
