from django.core.management.base import BaseCommand

from portal import signatures


class Command(BaseCommand):
    help = ("Show the key that signs erasure receipts and audit heads, and the published ones; "
            "with --rotate, retire it (its public key stays published) and sign with a new one.")

    def add_arguments(self, parser):
        parser.add_argument("--rotate", action="store_true",
                            help="start signing with a new key; the old one stays published")

    def handle(self, *args, **options):
        if options["rotate"]:
            old, new = signatures.rotate_key()
            self.stdout.write(f"Retired key {old}; now signing with key {new}.")
        for key in signatures.published_keys():
            self.stdout.write(f"{key.key_id} {'current' if key.current else 'retired'}")
