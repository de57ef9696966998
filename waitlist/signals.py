"""What the waitlist announces. The offer engine depends on the waitlist, never the
reverse, so it learns of changes it must act on through these signals (connected in
OffersConfig.ready())."""

from django.dispatch import Signal

# Sent after commit when an entry is taken off the waitlist (entry_remove): kwargs entry
# (waitlist.WaitlistEntry). The offer engine ends that entry's live offer, so its slot
# moves on at once instead of waiting for the hold to end.
entry_removed = Signal()

# Sent after commit when an entry starts waiting or its wishes change (entry_add,
# entry_update): kwargs entry, created (bool). The offer engine looks at the slots it may now fit: a
# slot waiting for busy patients, or one that closed unfilled because nobody fitted.
entry_waiting = Signal()
