from django.core.management.base import BaseCommand, CommandError

from subjects.core.audit import verify_chain


class Command(BaseCommand):
    help = "Check that the audit trail's hash chain is intact; name the first broken event."

    def handle(self, *args, **options):
        report = verify_chain()
        if report.intact:
            self.stdout.write(f"The audit trail is intact ({report.events} events).")
            return
        raise CommandError(
            f"The audit trail is broken at event {report.broken_event_id}: it {report.problem}. "
            f"{report.events - 1} events before it are intact.",
            returncode=1,
        )
