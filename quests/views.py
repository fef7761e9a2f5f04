from django.shortcuts import render


def star_map(request):
    return render(request, "quests/star_map.html")
