from django.core.management.base import BaseCommand, CommandError

from subjects.jobs.erasure import withdraw_template_consent
from subjects.models import RightsRequest


class Command(BaseCommand):
    help = ("The person withdrew their consent to keeping their face template (Art. 7(3)): "
            "delete the templates kept for their request to block re-collection.")

    def add_arguments(self, parser):
        parser.add_argument("reference", help="the request's reference, FR-XXXX-XXXX-XXXX")
        parser.add_argument("--actor", default="dpo", help="who acts, for the audit trail")

    def handle(self, *args, reference, actor, **options):
        request = RightsRequest.objects.filter(reference=reference.strip().upper()).first()
        if request is None:
            raise CommandError(f"No request has the reference {reference}.", returncode=2)
        deleted = withdraw_template_consent(request, actor=actor)
        if not deleted:
            self.stdout.write(f"Request {request.reference} has no template kept.")
            return
        self.stdout.write(f"Deleted {deleted} template(s) kept for {request.reference}; "
                          "the person's face may be collected again.")
