import pytest


@pytest.mark.django_db
def test_healthz_reports_database_pgvector_broker_and_face_model(client):
    response = client.get("/healthz")
    body = response.json()
    assert response.status_code == 200, body
    assert body["status"] == "ok"
    assert body["database"]["ok"] is True
    assert body["pgvector"].startswith("0.8.")
    assert body["broker"]["ok"] is True
    assert body["face_model"]["name"] == "dlib"
    assert body["face_model"]["dimension"] == 128


@pytest.mark.django_db
def test_the_landing_page_answers(client):
    response = client.get("/")
    assert response.status_code == 200
    assert "Is your face in a scraped face database?" in response.content.decode()
