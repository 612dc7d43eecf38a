from django.conf import settings


def portal(request):
    return {
        "controller_name": settings.CONTROLLER_NAME,
        "controller_address": settings.CONTROLLER_ADDRESS,
        "dpo_email": settings.DPO_EMAIL,
        "controller_representative": settings.CONTROLLER_REPRESENTATIVE,
        "authority_name": settings.SUPERVISORY_AUTHORITY_NAME,
        "authority_url": settings.SUPERVISORY_AUTHORITY_URL,
        "authority_address": settings.SUPERVISORY_AUTHORITY_ADDRESS,
        # The demo's mailbox page exists only with DEBUG on.
        "debug_mailbox": settings.DEBUG,
    }
