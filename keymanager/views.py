from django.http import JsonResponse
from django.views.decorators.cache import never_cache

from keymanager.selectors import pool_status


@never_cache
def status(request):
    return JsonResponse(pool_status())
