from django.urls import path

from quests import views, views_daily, views_flight_school, views_leagues

app_name = "quests"
urlpatterns = [
    path("", views.star_map, name="star_map"),
    path("quest/<int:number>/", views.quest_detail, name="quest_detail"),
    path("quest/<int:number>/launch", views.quest_launch, name="quest_launch"),
    path("quest/<int:number>/replay", views.quest_replay, name="quest_replay"),
    path("run/<int:pk>/", views.run_detail, name="run_detail"),
    path("run/<int:pk>/status", views.run_status, name="run_status"),
    path("run/<int:pk>/answer", views.run_answer, name="run_answer"),
    path("run/<int:pk>/result", views.run_result, name="run_result"),
    path("leaderboard/", views.leaderboard, name="leaderboard"),
    path("daily/", views_daily.daily, name="daily"),
    path("daily/launch", views_daily.daily_launch, name="daily_launch"),
    path("daily/share/<str:token>.png", views_daily.daily_share_image, name="daily_share_image"),
    path("daily/share/<str:token>/", views_daily.daily_share, name="daily_share"),
    path("leagues/", views_leagues.leagues, name="leagues"),
    path("flight-school/", views_flight_school.review, name="flight_school"),
    path("flight-school/answer", views_flight_school.review_submit, name="flight_school_answer"),
    # Browsers ask for /favicon.ico whatever the page links to.
    path("favicon.ico", views.favicon, name="favicon"),
    path("profile/", views.profile, name="profile"),
    path("accounts/signup/", views.signup, name="signup"),
    path("accounts/login/", views.PlayerLoginView.as_view(), name="login"),
    path("accounts/logout/", views.PlayerLogoutView.as_view(), name="logout"),
]
