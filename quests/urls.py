from django.urls import path

from quests import views

app_name = "quests"
urlpatterns = [path("", views.star_map, name="star_map")]
