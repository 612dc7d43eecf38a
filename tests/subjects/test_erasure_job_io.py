"""The erasure job at the direct path's cost (issue 17): a photo step saves
only its own record, not the whole plan again, and the final check looks
for the person's face only around the boxes redacted out of a photo, while
still finding one that is there."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from search.models import Photo
from subjects.jobs.erasure import erase_photo, plan_erasure, verify
from subjects.jobs.steps import JobFailed, run_step
from subjects.models import RequestJob
from subjects.review import decisions
from tests.conftest import FACES_DIR
from tests.subjects.scenario import file_via_worker, seed_world

pytestmark = pytest.mark.django_db


def test_photo_steps_save_only_their_record_and_the_final_check_finds_a_face_left_in_a_box():
    seed_world("-io")
    request = file_via_worker("erasure.io@example.org", kinds=["erasure"], keep_template="no",
                              in_process=True)
    request = decisions.approve_request(request, actor="dpo.test")
    job = request.jobs.get(kind=RequestJob.Kind.ERASURE)
    run_step(job, "plan", lambda: plan_erasure(job))
    plan = RequestJob.objects.get(pk=job.pk).plan
    assert plan["photos"]
    with CaptureQueriesContext(connection) as captured:
        for photo_id in sorted(job.plan["photos"], key=int):
            run_step(job, f"photo:{photo_id}", lambda p=photo_id: erase_photo(job, p))
    saves = [q["sql"] for q in captured.captured_queries
             if q["sql"].startswith('UPDATE "subjects_requestjob"')]
    assert len(saves) == len(job.plan["photos"])
    assert all('"plan" =' not in sql and '"result" =' not in sql for sql in saves), saves[0]
    stored = RequestJob.objects.get(pk=job.pk)
    assert stored.plan == plan
    assert stored.steps_done == ["plan", *(f"photo:{p}" for p in sorted(plan["photos"], key=int))]

    # The group photo was redacted, not deleted. Put its original back, as a
    # redaction that did not take would leave it: the final check, looking
    # only around the redacted boxes, still sees the person's face there.
    [group] = Photo.objects.filter(pk__in=[int(p) for p in plan["photos"]])
    original = (FACES_DIR / "group_obama_biden.jpg").read_bytes()
    with group.image.storage.open(group.image.name, "wb") as handle:
        handle.write(original)
    with pytest.raises(JobFailed, match=f"photo {group.pk} still shows the person's face"):
        verify(job)
