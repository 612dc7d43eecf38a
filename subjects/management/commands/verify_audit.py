from django.core.management.base import BaseCommand, CommandError

from subjects.core.audit import chain_head, verify_chain
from subjects.jobs.audit_heads import check_published_heads


class Command(BaseCommand):
    help = ("Check that the audit trail's hash chain is intact and holds every published head; "
            "name the first broken event. Prints the chain's head hash, to be recorded outside "
            "the system.")

    def handle(self, *args, **options):
        report = verify_chain()
        if report.intact:
            self.stdout.write(f"The audit trail is intact ({report.events} events).")
            rewritten = check_published_heads()
            if rewritten:
                raise CommandError("The audit trail was rewritten: "
                                   + "; ".join(map(str, rewritten)) + ".", returncode=1)
            head = chain_head()
            if head.at is not None:
                # Recorded elsewhere, it shows later that nothing before it was rewritten.
                self.stdout.write(f"Head: event {head.sequence} of {head.at.isoformat()}, "
                                  f"hash {head.hash}")
            return
        raise CommandError(
            f"The audit trail is broken at event {report.broken_event_id}: it {report.problem}. "
            f"{report.events - 1} events before it are intact.",
            returncode=1,
        )
