"""The API dashboard view: a page inside admin, with admin's look and navigation."""

from __future__ import annotations

from django.conf import settings
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils.cache import add_never_cache_headers

from keymanager.dashboard.context import dashboard_context


def refresh_seconds() -> int:
    return int(getattr(settings, "KEYMANAGER_DASHBOARD_REFRESH_SECONDS", 10))


def _dashboard(request: HttpRequest) -> HttpResponse:
    if not request.user.has_perm("keymanager.view_key"):
        raise PermissionDenied
    fragment = request.GET.get("fragment") == "1"
    context = {
        **({} if fragment else admin.site.each_context(request)),
        **dashboard_context(),
        "title": "API dashboard",
        "refresh_seconds": refresh_seconds(),
    }
    template = "keymanager/dashboard/body.html" if fragment else "keymanager/dashboard/page.html"
    response = TemplateResponse(request, template, context)
    add_never_cache_headers(response)
    return response


# admin_view: staff login required (redirects to the admin login), CSRF and never-cache.
api_dashboard = admin.site.admin_view(_dashboard)
