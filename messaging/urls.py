from django.urls import path

from messaging import views

app_name = "messaging"
urlpatterns = [
    path("sms/", views.inbound_sms, name="inbound"),
    path("status/", views.status_callback, name="status"),
]
