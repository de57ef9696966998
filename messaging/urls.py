from django.urls import path

from messaging import views

app_name = "messaging"
urlpatterns = [
    path("sms/", views.inbound_sms, name="inbound"),
    path("status/", views.status_callback, name="status"),
    path("voice/answer/", views.voice_answer, name="voice_answer"),
    path("voice/gather/", views.voice_gather, name="voice_gather"),
    path("voice/status/", views.voice_status, name="voice_status"),
]
