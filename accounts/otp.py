"""TOTP setup on top of django-otp (no TOTP code written by hand)."""

import io

import qrcode
import qrcode.image.svg
from django.db import transaction
from django_otp import devices_for_user
from django_otp.plugins.otp_totp.models import TOTPDevice

from digis.errors import InvalidInput


def pending_device(user) -> TOTPDevice:
    """The unconfirmed device a user is setting up (made once, reused until confirmed)."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("-id").first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=False)
    return device


def qr_svg(device: TOTPDevice) -> str:
    # config_url carries the issuer (settings.OTP_TOTP_ISSUER) and the secret.
    image = qrcode.make(device.config_url, image_factory=qrcode.image.svg.SvgPathImage, box_size=8)
    out = io.BytesIO()
    image.save(out)
    return out.getvalue().decode()


def confirm_device(*, user, token: str) -> TOTPDevice:
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("-id").first()
    if device is None or not device.verify_token(str(token).strip()):
        raise InvalidInput("That code is not valid. Check your phone's clock and try again.",
                           fields={"otp_token": ["Invalid code."]}, code="otp_invalid")
    with transaction.atomic(durable=True):
        TOTPDevice.objects.filter(pk=device.pk).update(confirmed=True)
        # One authenticator at a time; leftovers from abandoned set-ups go.
        TOTPDevice.objects.filter(user=user).exclude(pk=device.pk).delete()
    device.confirmed = True
    return device


def disable(*, user, token: str) -> None:
    from django_otp import match_token

    if match_token(user, str(token).strip()) is None:
        raise InvalidInput("That code is not valid.", fields={"otp_token": ["Invalid code."]}, code="otp_invalid")
    with transaction.atomic(durable=True):
        for device in devices_for_user(user, confirmed=None):
            device.delete()
