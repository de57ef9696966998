from django.urls import path

from waitlist import views

app_name = "waitlist"
urlpatterns = [
    path("", views.entry_list, name="list"),
    path("add/", views.entry_add, name="add"),
    path("<int:entry_id>/edit/", views.entry_edit, name="edit"),
    path("<int:entry_id>/remove/", views.entry_remove, name="remove"),
]
