"""Routes of the sweep page and its two actions."""

from django.urls import path

from strategies.sweeps import views

app_name = "sweeps"
urlpatterns = [
    path("<int:pk>/", views.sweep_page, name="page"),
    path("<int:pk>/promote/", views.sweep_promote_view, name="promote"),
    path("<int:pk>/cancel/", views.sweep_cancel_view, name="cancel"),
]
