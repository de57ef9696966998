import factory
from django.utils import timezone

from clinic.tests.factories import PatientFactory
from waitlist.models import WaitlistEntry


class WaitlistEntryFactory(factory.django.DjangoModelFactory):
    """An active entry that accepts any provider and any type, unless told otherwise."""

    class Meta:
        model = WaitlistEntry
        skip_postgeneration_save = True

    patient = factory.SubFactory(PatientFactory)
    any_provider = True
    added_at = factory.LazyFunction(timezone.now)

    @factory.post_generation
    def providers(self, create, extracted, **kwargs):
        if create and extracted:
            self.any_provider = False
            self.save(update_fields=["any_provider"])
            self.providers.set(extracted)
