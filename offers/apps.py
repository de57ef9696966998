from django.apps import AppConfig


class OffersConfig(AppConfig):
    name = "offers"
    verbose_name = "Slots and offers"

    def ready(self):
        from messaging import hooks
        from offers import replies, voice

        hooks.register_reply_handler(replies.handle_reply)
        hooks.register_call_handler(voice.handle_call)
        hooks.register_send_check(replies.may_send)
        hooks.message_handed_over.connect(replies.on_message_handed_over,
                                          dispatch_uid="offers-handed-over")
        hooks.message_failed.connect(replies.on_message_failed, dispatch_uid="offers-failed")
        hooks.patient_opted_out.connect(replies.on_patient_opted_out,
                                        dispatch_uid="offers-opted-out")
        hooks.patient_opted_in.connect(replies.on_patient_opted_in,
                                       dispatch_uid="offers-opted-in")
        hooks.patient_wrong_number.connect(replies.on_patient_wrong_number,
                                           dispatch_uid="offers-wrong-number")

        from clinic import signals as clinic_signals

        clinic_signals.patient_textable_again.connect(replies.on_patient_opted_in,
                                                      dispatch_uid="offers-textable-again")

        from django.db.models.signals import post_delete

        from offers import messages
        from offers.models import Offer

        messages.templates_register()
        post_delete.connect(messages.on_offer_deleted, sender=Offer,
                            dispatch_uid="offers-unlink-messages")

        from offers import history
        from waitlist import ranking

        ranking.register_history_parts(history.ranking_parts, words={
            "score_responsiveness": history.responsiveness_words,
            "score_fairness": history.fairness_words})

        from offers import waitlist_events
        from waitlist import signals as waitlist_signals

        waitlist_signals.entry_removed.connect(waitlist_events.on_entry_removed,
                                               dispatch_uid="offers-entry-removed")
        waitlist_signals.entry_waiting.connect(waitlist_events.on_entry_waiting,
                                               dispatch_uid="offers-entry-waiting")
