from django.contrib import admin
from django.urls import include, path

from cosmosquest.accounts import CappedAdminAuthenticationForm
from cosmosquest.observability.views import metrics
from keymanager.dashboard.views import api_dashboard

# The admin's login caps the username before authenticating, as the game's does.
admin.site.login_form = CappedAdminAuthenticationForm

urlpatterns = [
    # Before admin's URLs, whose catch-all would otherwise answer this path.
    path("admin/api-dashboard/", api_dashboard, name="api-dashboard"),
    path("admin/", admin.site.urls),
    # /healthz and /readyz are answered by cosmosquest.observability.middleware.HealthMiddleware.
    path("metrics", metrics, name="metrics"),
    path("", include("keymanager.urls")),
    path("", include("quests.urls")),
]
