from django.apps import AppConfig


class WaitlistConfig(AppConfig):
    name = "waitlist"
    verbose_name = "Waitlist"

    def ready(self):
        from messaging import hooks
        from messaging.rendering import templates_register
        from waitlist import checkins

        templates_register(checkins.TEMPLATES)
        hooks.register_send_check(checkins.may_send)
        hooks.message_failed.connect(checkins.on_message_failed,
                                     dispatch_uid="waitlist-check-in-failed")
        hooks.patient_opted_out.connect(checkins.on_patient_unreachable,
                                        dispatch_uid="waitlist-check-in-opted-out")
        hooks.patient_wrong_number.connect(checkins.on_patient_unreachable,
                                           dispatch_uid="waitlist-check-in-wrong-number")
