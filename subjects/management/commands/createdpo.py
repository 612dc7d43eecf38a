"""Create a DPO account with its second factor.

    manage.py createdpo dpo@example.org                 # prints a new password
    printf '%s' "$PW" | manage.py createdpo dpo@example.org --password-stdin
    DPO_PASSWORD=... manage.py createdpo dpo@example.org --json

It prints the otpauth:// URI (and, with --qr, a QR code) to enrol an
authenticator app; the secret is shown once and never again.
"""

from __future__ import annotations

import io
import json
import os
import sys

import qrcode
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from subjects.dpo import accounts


class Command(BaseCommand):
    help = "Create a DPO account (staff, DPO group) with a TOTP authenticator for 2FA."

    def add_arguments(self, parser):
        parser.add_argument("email")
        parser.add_argument("--password-stdin", action="store_true",
                            help="Read the password from standard input.")
        parser.add_argument("--reset", action="store_true",
                            help="The account exists: give it a new password and a new "
                                 "authenticator key (the old app stops working).")
        parser.add_argument("--json", action="store_true", dest="as_json",
                            help="Print one JSON object (for scripts).")
        parser.add_argument("--qr", action="store_true",
                            help="Also print the enrolment QR code in the terminal.")

    def handle(self, *args, email, password_stdin, reset, as_json, qr, **options):
        generated = False
        if password_stdin:
            password = sys.stdin.readline().rstrip("\r\n")
        elif os.environ.get("DPO_PASSWORD"):
            password = os.environ["DPO_PASSWORD"]
        else:
            password, generated = accounts.new_password(), True
        if "@" not in email:
            raise CommandError("Give the DPO's e-mail address: it is the login name.")
        try:
            user, enrolment = accounts.create_dpo(email, password=password, reset=reset)
        except ValueError as error:
            raise CommandError(str(error)) from None
        except ValidationError as error:
            raise CommandError("The password is refused: " + " ".join(error.messages)) from None
        result = {
            "email": user.get_username(),
            "password": password if generated else None,
            "otpauth_uri": enrolment.uri,
            "totp_secret": enrolment.secret,
            "login_url": "/dpo/login/",
        }
        if as_json:
            self.stdout.write(json.dumps(result))
            return
        self.stdout.write(f"DPO account: {result['email']}")
        if generated:
            self.stdout.write(f"One-time password (shown once; change it after logging in): "
                              f"{password}")
        self.stdout.write("Enrol an authenticator app (TOTP, 6 digits, 30 s) with:")
        self.stdout.write(f"  URI:    {enrolment.uri}")
        self.stdout.write(f"  Secret: {enrolment.secret}")
        if qr:
            out = io.StringIO()
            code = qrcode.QRCode(border=1)
            code.add_data(enrolment.uri)
            code.print_ascii(out=out, invert=True)
            self.stdout.write(out.getvalue())
        self.stdout.write("Log in at /dpo/login/ with the address, the password and the code.")
