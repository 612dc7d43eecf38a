from django.urls import path

from subjects.web import evidence, views

app_name = "subjects"

urlpatterns = [
    path("start/", views.start, name="start"),
    path("start/sent/", views.start_sent, name="start_sent"),
    path("verify/<str:token>/", views.verify, name="verify"),
    path("verify/<str:token>/again/", views.verify_again, name="verify_again"),
    path("r/<str:token>/", views.request_home, name="home"),
    path("r/<str:token>/selfie/", views.selfie, name="selfie"),
    path("r/<str:token>/live/", views.live, name="live"),
    path("r/<str:token>/live/step/", views.live_step, name="live_step"),
    path("r/<str:token>/live/step/<int:step>/", views.live_answer, name="live_answer"),
    path("r/<str:token>/confirm/", views.confirm_browser, name="confirm_browser"),
    path("r/<str:token>/matches/", views.matches, name="matches"),
    path("r/<str:token>/progress.json", views.progress, name="progress"),
    path("r/<str:token>/faces/<int:match_id>.jpg", views.face_crop, name="face_crop"),
    path("r/<str:token>/file/", views.file, name="file"),
    path("r/<str:token>/status/", views.status, name="status"),
    path("r/<str:token>/withdraw/", views.withdraw, name="withdraw"),
    path("r/<str:token>/answer/", views.answer, name="answer"),
    path("r/<str:token>/forget-template/", views.forget_template, name="forget_template"),
    path("package/<str:token>/", views.download_package, name="package"),
    path("r/<str:token>/receipt.json", evidence.receipt, name="receipt"),
    path("transparency/", evidence.transparency_page, name="transparency"),
    path("transparency/figures.csv", evidence.transparency_csv, name="transparency_csv"),
    path("transparency/figures.json", evidence.transparency_json, name="transparency_json"),
    path("transparency/audit-heads/<str:day>.json", evidence.audit_head, name="audit_head"),
    path("acknowledge/<str:token>/", evidence.acknowledge, name="acknowledge"),
]
