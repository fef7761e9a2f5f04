from django.urls import path

from quests import views

app_name = "quests"
urlpatterns = [
    path("", views.star_map, name="star_map"),
    path("quest/<int:number>/", views.quest_detail, name="quest_detail"),
    path("quest/<int:number>/launch", views.quest_launch, name="quest_launch"),
    path("run/<int:pk>/", views.run_detail, name="run_detail"),
    path("run/<int:pk>/transmit", views.run_transmission, name="run_transmit"),
    path("run/<int:pk>/answer", views.run_answer, name="run_answer"),
    path("run/<int:pk>/result", views.run_result, name="run_result"),
    path("leaderboard/", views.leaderboard, name="leaderboard"),
    path("daily/", views.daily, name="daily"),
    path("daily/launch", views.daily_launch, name="daily_launch"),
    path("profile/", views.profile, name="profile"),
    path("accounts/signup/", views.signup, name="signup"),
    path("accounts/login/", views.PlayerLoginView.as_view(), name="login"),
    path("accounts/logout/", views.PlayerLogoutView.as_view(), name="logout"),
]
