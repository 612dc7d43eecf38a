from django.urls import path

from subjects.dpo import views

app_name = "dpo"

urlpatterns = [
    path("", views.queue, name="queue"),
    path("login/", views.login, name="login"),
    path("logout/", views.logout, name="logout"),
    path("requests/<str:reference>/", views.request_detail, name="request"),
    path("requests/<str:reference>/actions/<str:action>/", views.request_action, name="action"),
    path("requests/<str:reference>/faces/<int:match_id>.jpg", views.face_crop, name="face_crop"),
    path("requests/<str:reference>/selfie.jpg", views.review_selfie, name="review_selfie"),
    path("requests/<str:reference>/answer-photo.jpg", views.answer_photo, name="answer_photo"),
    path("requests/<str:reference>/package.zip", views.access_package, name="access_package"),
    path("figures/", views.figures, name="figures"),
    path("register.csv", views.register, name="register"),
    path("keys/", views.api_keys, name="api_keys"),
    path("password/", views.change_password, name="change_password"),
    path("keys/<int:key_id>/revoke/", views.revoke_api_key, name="revoke_api_key"),
]
