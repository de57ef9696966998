import factory
from django.utils import timezone

from clinic.models import AppointmentType, Location, Patient, Provider


class LocationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Location
        django_get_or_create = ["name"]

    name = factory.Sequence(lambda n: f"Clinic site {n}")


class ProviderFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Provider

    name = factory.Sequence(lambda n: f"Dr. Provider {n}")
    identifier_system = "http://hl7.org/fhir/sid/us-npi"
    identifier_value = factory.Sequence(lambda n: f"99{n:08d}")


class AppointmentTypeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AppointmentType
        django_get_or_create = ["code"]

    code = "follow-up"
    name = "Follow-up visit"
    duration_minutes = 20


class PatientFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Patient

    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    # 555-01xx style numbers are reserved for fiction but valid for phonenumbers in 312.
    phone = factory.Sequence(lambda n: f"+1312{2000000 + n:07d}")
    preferred_language = "en"
    created_at = factory.LazyFunction(timezone.now)
