from django.urls import path

from . import views

urlpatterns = [
    path("", views.note_list),
    path("latest/", views.latest_note),
]
