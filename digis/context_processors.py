from django.conf import settings


def site(request):
    return {"SITE_NAME": "Digis", "DEBUG": settings.DEBUG}
