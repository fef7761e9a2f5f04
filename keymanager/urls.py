from django.urls import path

from keymanager import views

app_name = "keymanager"
urlpatterns = [path("api/status", views.status, name="status")]
