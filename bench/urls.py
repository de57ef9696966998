"""The product's URLs plus the bench-only baseline (routed only under bench.settings)."""

from django.urls import path

from bench import views
from clinic.urls import urlpatterns as product_urlpatterns

urlpatterns = [
    path("bench/baseline/sms/", views.baseline_sms, name="bench_baseline_sms"),
    *product_urlpatterns,
]
