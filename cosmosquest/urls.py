from django.contrib import admin
from django.urls import include, path

from keymanager.dashboard.views import api_dashboard

urlpatterns = [
    # Before admin's URLs, whose catch-all would otherwise answer this path.
    path("admin/api-dashboard/", api_dashboard, name="api-dashboard"),
    path("admin/", admin.site.urls),
    path("", include("keymanager.urls")),
    path("", include("quests.urls")),
]
