"""The product's URLs plus the bench-only baseline (routed only under bench.settings)."""

from django.urls import path

from bench import views
from bench.lib import slot_lock_apply_setting
from clinic.urls import urlpatterns as product_urlpatterns

urlpatterns = [
    path("bench/baseline/sms/", views.baseline_sms, name="bench_baseline_sms"),
    *product_urlpatterns,
]

# Only for the back-to-back lock comparison (bench/README.md); a no-op unless asked.
slot_lock_apply_setting()
