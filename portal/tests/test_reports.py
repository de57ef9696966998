import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from clinic.tests.factories import ProviderFactory
from offers.models import Slot
from offers.tests.factories import OfferFactory, SlotFactory
from portal import charts
from portal.selectors import fill_report, percentile

pytestmark = pytest.mark.django_db


def test_percentile_is_nearest_rank():
    values = list(range(1, 11))
    assert percentile(values, 0.5) == 5
    assert percentile(values, 0.9) == 9
    assert percentile([7], 0.9) == 7
    assert percentile([], 0.5) is None


def _closed_slot(provider, status, *, minutes_to_close, days_ago=1):
    start = timezone.now() - dt.timedelta(days=days_ago)
    created = start - dt.timedelta(days=1)
    return SlotFactory(provider=provider, start=start, end=start + dt.timedelta(minutes=20),
                       status=status, created_at=created,
                       closed_at=created + dt.timedelta(minutes=minutes_to_close),
                       filled_via=Slot.FilledVia.SMS if status == Slot.Status.FILLED else "")


def test_fill_report_counts_rates_times_and_offers():
    kim, ortega = ProviderFactory(name="Dr. Kim"), ProviderFactory(name="Dr. Ortega")
    for minutes in (10, 20, 30, 40):
        slot = _closed_slot(kim, Slot.Status.FILLED, minutes_to_close=minutes)
        OfferFactory.create_batch(3, slot=slot)
    _closed_slot(ortega, Slot.Status.UNFILLED, minutes_to_close=300)
    _closed_slot(ortega, Slot.Status.WITHDRAWN, minutes_to_close=5)
    report = fill_report(weeks=4)
    assert (report["filled"], report["unfilled"]) == (4, 1)
    assert report["fill_rate"] == pytest.approx(0.8)
    assert report["median_minutes"] == pytest.approx(20)
    assert report["p90_minutes"] == pytest.approx(40)
    assert report["offers_per_fill"] == pytest.approx(3)
    assert ("Dr. Kim", 4, 0) in report["providers"]
    assert ("Dr. Ortega", 0, 1) in report["providers"]
    assert sum(f for _, f, _ in report["weeks"]) == 4
    assert len(report["weeks"]) == 4


def test_fill_report_without_decided_slots_has_no_rates():
    report = fill_report(weeks=12)
    assert report["fill_rate"] is None
    assert report["median_minutes"] is None


def test_column_chart_scales_bars_to_the_busiest_week():
    chart = charts.stacked_columns([("a", 4, 0), ("b", 1, 1)])
    a, b = chart["columns"]
    assert a["filled_h"] == pytest.approx(2 * (b["filled_h"] + b["unfilled_h"]))
    assert a["filled_y"] + a["filled_h"] == pytest.approx(chart["baseline"])


def test_reports_page_draws_svg_charts_and_figures(client, manager_user):
    kim = ProviderFactory(name="Dr. Kim")
    _closed_slot(kim, Slot.Status.FILLED, minutes_to_close=12)
    _closed_slot(kim, Slot.Status.UNFILLED, minutes_to_close=12)
    client.force_login(manager_user)
    page = client.get(reverse("portal:reports"), {"weeks": 4}).content.decode()
    assert '<svg class="chart"' in page
    assert 'data-testid="fill-rate">50%' in page
    assert "Dr. Kim" in page
    assert "style=" not in page


def test_reports_ignore_nonsense_parameters(client, manager_user):
    client.force_login(manager_user)
    response = client.get(reverse("portal:reports"), {"weeks": "lots", "provider": "x"})
    assert response.status_code == 200
