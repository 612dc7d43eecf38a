from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from portal import signatures
from subjects.jobs.audit_heads import HEAD_TYPE, check_head
from subjects.jobs.receipts import RECEIPT_TYPE


class Command(BaseCommand):
    # Offline: no check may open a database (``portal.checkout``).
    requires_system_checks = []
    help = ("Check a signed erasure receipt or audit head offline against the published public "
            "keys (or a public key file); for an audit head, also check that the audit trail "
            "still holds it.")

    def add_arguments(self, parser):
        parser.add_argument("file", help="the receipt or audit head (JSON) to check")
        parser.add_argument("--public-key", metavar="PEM",
                            help="check against this public key (PEM) instead of the "
                                 "portal's published keys")

    def handle(self, *args, **options):
        path = Path(options["file"])
        try:
            data = path.read_bytes()
        except OSError as error:
            raise CommandError(f"{path} cannot be read: {error.strerror}.") from None
        keys = None
        if options["public_key"]:
            try:
                key = signatures.public_key_from_pem(Path(options["public_key"]).read_bytes())
            except (OSError, ValueError) as error:
                raise CommandError(f"{options['public_key']} is not an Ed25519 public key in "
                                   f"PEM form ({error}).") from None
            keys = {signatures.key_id(key): key}
        elif not Path(settings.RECEIPT_SIGNING_KEY_FILE).exists():
            # Offline and away from the portal: nothing to compare with, and
            # no key is made up here.
            raise CommandError(
                "This data folder holds none of the portal's keys. Download the public key the "
                "document names from the portal's /.well-known/receipt-keys.json and give it "
                "with --public-key KEY.pem.")
        try:
            opened = signatures.open_document(data, keys)
        except signatures.InvalidDocument as invalid:
            raise CommandError(f"NOT VALID: the document {invalid}.", returncode=1) from None
        payload = opened.payload
        kind = payload.get("type")
        if kind == RECEIPT_TYPE:
            self.stdout.write(
                f"Valid erasure receipt for {payload['reference']}, signed with key "
                f"{opened.key_id}: completed {payload['completed_at']}, "
                f"{payload['faces_erased']} faces erased, {payload['photos_deleted']} photos "
                f"deleted, {payload['photos_redacted']} redacted, "
                f"{payload['recipients_notified']} recipients told; final check "
                f"{'passed' if payload['final_check']['passed'] else 'not run'}; audit head "
                f"after it: event {payload['audit_head']['sequence']}, "
                f"{payload['audit_head']['hash']}.")
        elif kind == HEAD_TYPE:
            self.stdout.write(
                f"Valid audit head, signed with key {opened.key_id}: event "
                f"{payload['sequence']} with hash {payload['hash']}, published "
                f"{payload['published_at']}.")
            if keys is None and connection.settings_dict["ENGINE"].endswith(".dummy"):
                self.stdout.write("The audit trail was not checked: no database runs here "
                                  "(run this command on the portal to check that too).")
            elif keys is None:
                problem = check_head(payload["sequence"], payload["hash"])
                if problem:
                    raise CommandError(f"The audit trail does NOT hold this head: it {problem}.",
                                       returncode=1)
                self.stdout.write("The audit trail still holds this head.")
        else:
            self.stdout.write(f"Valid signed document ({kind}), key {opened.key_id}.")
