"""search.demo: the demo seeds real photos from a folder of labelled photos
outside the repository, and on a bare machine from the images installed
packages ship, always beside the synthetic filler faces."""

import shutil
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from search.demo import PACKAGE_PHOTOS, SYNTHETIC_SITE, package_photos
from search.models import Face, Photo
from tests.conftest import FACES_DIR

pytestmark = pytest.mark.django_db


def seeded_files() -> set[str]:
    return set(Photo.objects.filter(synthetic=False).values_list("file_name", flat=True))


@pytest.fixture(autouse=True)
def stored_files_go_afterwards():
    yield
    for photo in Photo.objects.exclude(image=""):
        photo.image.delete(save=False)


def test_without_the_samples_folder_it_seeds_package_images_and_synthetic_faces(
        settings, tmp_path, capsys):
    settings.FACE_SAMPLES_DIR = tmp_path / "no-faces-here"
    shipped = package_photos()
    assert {path.name for path in shipped} == {Path(inside).name for _, inside in PACKAGE_PHOTOS}
    assert all("site-packages" in str(path) for path in shipped)

    call_command("seed_demo", "--synthetic-faces", "20")

    assert seeded_files() == {path.name for path in shipped}
    out = capsys.readouterr().out
    assert "the 3 sample images of installed packages, because" in out
    assert f"{settings.FACE_SAMPLES_DIR} is not there (set FACE_SAMPLES_DIR" in out
    faces_per_photo = {name: Face.objects.filter(photo__file_name=name).count()
                       for name in seeded_files()}
    # insightface's group photo holds six people; its aligned crop and
    # scikit-image's astronaut one each.
    assert faces_per_photo == {"t1.jpg": 6, "Tom_Hanks_54745.png": 1, "astronaut.png": 1}
    synthetic = Face.objects.filter(photo__synthetic=True, photo__site=SYNTHETIC_SITE)
    assert synthetic.count() == 20
    assert not Photo.objects.filter(file_name__in=["obama_1.jpg", "biden_1.jpg"]).exists()


def test_with_the_samples_folder_it_seeds_its_labelled_photos(settings, tmp_path):
    # A copy of a few sample photos stands in for FACE_SAMPLES_DIR (the whole
    # set takes a minute to detect).
    folder = tmp_path / "faces"
    folder.mkdir()
    labels = [line for line in (FACES_DIR / "labels.csv").read_text().splitlines()
              if line.startswith(("file,", "obama_5.jpg,", "group_two_people.jpg,"))]
    (folder / "labels.csv").write_text("\n".join(labels) + "\n")
    for name in ("obama_5.jpg", "group_two_people.jpg", "not_labelled.jpg"):
        shutil.copy(FACES_DIR / ("obama_6_small.jpg" if name == "not_labelled.jpg" else name),
                    folder / name)
    settings.FACE_SAMPLES_DIR = folder

    call_command("seed_demo", "--synthetic-faces", "5")

    assert seeded_files() == {"obama_5.jpg", "group_two_people.jpg"}
    assert Face.objects.filter(photo__synthetic=False).count() == 3


def test_photos_option_seeds_any_folder_with_labels(settings, tmp_path, capsys):
    folder = tmp_path / "mine"
    folder.mkdir()
    shutil.copy(FACES_DIR / "kit_harington_2.jpg", folder / "someone.jpg")
    (folder / "labels.csv").write_text("file,identity,left,top,width\n"
                                       "someone.jpg,someone,283,98,187\n")
    settings.FACE_SAMPLES_DIR = FACES_DIR

    call_command("seed_demo", "--photos", str(folder), "--synthetic-faces", "5")

    assert seeded_files() == {"someone.jpg"}
    assert f"from the labelled photos of {folder}" in capsys.readouterr().out


def test_a_photos_folder_without_labels_is_refused_with_a_sentence(tmp_path):
    folder = tmp_path / "unlabelled"
    folder.mkdir()
    shutil.copy(FACES_DIR / "obama_5.jpg", folder)
    with pytest.raises(CommandError, match=r"has no labels\.csv: the demo needs a folder of "
                                           r"labelled face photos"):
        call_command("seed_demo", "--photos", str(folder), "--synthetic-faces", "5")
    assert not Photo.objects.exists()
