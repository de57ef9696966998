"""What the clinic's reference data announces. Apps that depend on clinic (the offer
engine) learn of changes they must act on through these signals; clinic imports none of
them.
"""

from django.dispatch import Signal

# Sent after commit when staff correct a patient's record so that they can be texted
# again (a new phone clears "wrong number" or "cannot receive texts"): kwargs patient.
# The offer engine looks at the slots their entries may now fit.
patient_textable_again = Signal()
