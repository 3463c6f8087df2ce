"""Payments API: packages, purchases, and the Stripe webhook."""

import json
import logging
import time

import stripe
from django.conf import settings
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from django_ratelimit.core import get_usage
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from digis import fields
from digis.api import api_error_response
from payments import selectors, services
from payments.exceptions import PurchaseNotFound, PurchaseRateLimited
from payments.models import Purchase, TokenPackage

logger = logging.getLogger(__name__)


class PackageSerializer(serializers.ModelSerializer):
    total_tokens = fields.IntegerField(read_only=True)

    class Meta:
        model = TokenPackage
        fields = ["id", "name", "tokens", "bonus_tokens", "total_tokens", "price_cents", "currency"]


class PurchaseSerializer(serializers.ModelSerializer):
    package = serializers.PrimaryKeyRelatedField(read_only=True)
    package_name = fields.CharField(source="package.name", read_only=True)

    class Meta:
        model = Purchase
        fields = [
            "id", "package", "package_name", "tokens", "amount_cents", "currency", "status",
            "payment_intent_id", "refunded_cents", "failure_reason", "created_at", "succeeded_at",
        ]


class StartedPurchaseSerializer(PurchaseSerializer):
    client_secret = serializers.CharField(help_text="For Stripe.js to confirm the payment in the browser.")
    publishable_key = serializers.CharField()

    class Meta(PurchaseSerializer.Meta):
        fields = PurchaseSerializer.Meta.fields + ["client_secret", "publishable_key"]


class ConfirmedPurchaseSerializer(PurchaseSerializer):
    payment_intent_status = serializers.CharField(
        help_text="Stripe's status of the payment: succeeded, processing, or requires_action (the browser completes 3-D Secure)."
    )
    client_secret = serializers.CharField(help_text="With requires_action: for Stripe.js to run the 3-D Secure step.")

    class Meta(PurchaseSerializer.Meta):
        fields = PurchaseSerializer.Meta.fields + ["payment_intent_status", "client_secret"]


class NewPurchaseSerializer(serializers.Serializer):
    package = fields.IntegerField(min_value=1)


class ConfirmSerializer(serializers.Serializer):
    token = serializers.RegexField(r"^tok_[A-Za-z0-9_]{1,200}$", required=False, default="")
    payment_method = serializers.RegexField(r"^(pm|card)_[A-Za-z0-9_]{1,200}$", required=False, default="")

    def validate(self, attrs):
        if bool(attrs["token"]) == bool(attrs["payment_method"]):
            raise serializers.ValidationError("Send exactly one of token or payment_method.")
        return attrs


class PackageListView(APIView):
    @extend_schema(responses=PackageSerializer(many=True))
    def get(self, request):
        return Response(PackageSerializer(selectors.packages_on_sale(), many=True).data)


class PurchaseListView(APIView):
    @extend_schema(responses=PurchaseSerializer(many=True))
    def get(self, request):
        return Response(PurchaseSerializer(selectors.purchases_of(request.user)[:100], many=True).data)

    @extend_schema(
        request=NewPurchaseSerializer,
        responses={
            201: StartedPurchaseSerializer,
            200: OpenApiResponse(StartedPurchaseSerializer, description="Your open purchase of this package, still payable."),
        },
    )
    def post(self, request):
        data = NewPurchaseSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        # A second click, or another card after a decline, pays the purchase
        # already open for this package: no new purchase, nothing counted.
        purchase = services.payable_purchase(user=request.user, package_id=data.validated_data["package"])
        status = 200
        if purchase is None:
            usage = get_usage(
                request, group="payments.purchase", key="user", rate=settings.PAYMENTS_PURCHASE_RATE, method="POST", increment=True
            )
            if usage and usage["should_limit"]:
                raise PurchaseRateLimited(retry_after=max(1, int(usage["time_left"])))
            purchase = services.start_purchase(user=request.user, package_id=data.validated_data["package"])
            status = 201
        body = PurchaseSerializer(purchase).data
        body["client_secret"] = purchase.client_secret
        body["publishable_key"] = settings.STRIPE_PUBLISHABLE_KEY
        return Response(body, status=status)


class PurchaseDetailView(APIView):
    @extend_schema(responses=PurchaseSerializer)
    def get(self, request, purchase_id):
        purchase = selectors.purchase_of(request.user, purchase_id)
        if purchase is None:
            raise PurchaseNotFound()
        return Response(PurchaseSerializer(purchase).data)


class PurchaseConfirmView(APIView):
    """Pay the caller's own pending purchase with a tokenized card (the
    localstripe stand-in of Stripe.js cannot confirm in the browser)."""

    @extend_schema(
        request=ConfirmSerializer,
        responses={200: ConfirmedPurchaseSerializer, 402: OpenApiResponse(description="The card was refused (`code`, `decline_code` and `message` say why, in Stripe's words)."),
                   409: OpenApiResponse(description="The purchase can no longer be paid (paid, expired).")},
    )
    def post(self, request, purchase_id):
        data = ConfirmSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        intent = services.confirm_purchase(user=request.user, purchase_id=purchase_id, **data.validated_data)
        purchase = selectors.purchase_of(request.user, purchase_id)
        body = PurchaseSerializer(purchase).data
        body["payment_intent_status"] = intent.status
        body["client_secret"] = purchase.client_secret if intent.status == "requires_action" else ""
        return Response(body)


def _check_not_from_the_future(signature: str) -> None:
    """stripe-python only refuses timestamps that are too old; a signed
    timestamp far ahead of our clock is outside the tolerance too."""
    stamps = [part[2:] for part in signature.split(",") if part.startswith("t=")]
    if not stamps or not stamps[0].isdigit() or int(stamps[0]) > time.time() + settings.STRIPE_WEBHOOK_TOLERANCE_S:
        raise stripe.SignatureVerificationError("timestamp outside the tolerance zone", signature)


def _verify_with_any(body: bytes, signature: str, secrets: list[str]) -> None:
    for index, secret in enumerate(secrets):
        try:
            stripe.WebhookSignature.verify_header(body, signature, secret, settings.STRIPE_WEBHOOK_TOLERANCE_S)
            return
        except stripe.SignatureVerificationError:
            if index == len(secrets) - 1:
                raise


@csrf_exempt
@require_POST
def stripe_webhook(request):
    """Stripe's webhook: verify the signature over the raw body, then record and
    process the event. 400 for anything unverified (nothing is written); 2xx
    once handled (or handled before); non-2xx when handling failed or another
    delivery is handling it right now, so Stripe delivers it again."""
    secret = settings.DJSTRIPE_WEBHOOK_SECRET
    # Stripe signs Connect events (from connected accounts) for a second
    # endpoint with its own secret; both may point here.
    secrets = [s for s in (secret, getattr(settings, "STRIPE_CONNECT_WEBHOOK_SECRET", "")) if s]
    signature = request.headers.get("Stripe-Signature", "")
    if not secret:
        logger.error("stripe webhook refused: STRIPE_WEBHOOK_SECRET is not set")
        return api_error_response(code="webhook_not_configured", message="Webhooks are not configured.", status_code=400)
    if not signature:
        return api_error_response(code="invalid_signature", message="The Stripe-Signature header is missing.", status_code=400)
    try:
        # Verify the signature over the raw body, then parse it once (construct_event
        # would also build a StripeObject tree we never use, then we parsed again).
        _verify_with_any(request.body, signature, secrets)
        _check_not_from_the_future(signature)
        payload = json.loads(request.body)
    except stripe.SignatureVerificationError:
        logger.warning("stripe webhook with a bad signature refused")
        return api_error_response(code="invalid_signature", message="The signature is invalid or too old.", status_code=400)
    except ValueError:
        return api_error_response(code="malformed_event", message="The body is not a Stripe event.", status_code=400)
    if not isinstance(payload, dict) or not all(isinstance(payload.get(k), str) for k in ("id", "type")) or not isinstance(
        (payload.get("data") or {}).get("object"), dict
    ):
        return api_error_response(code="malformed_event", message="The body is not a Stripe event.", status_code=400)

    outcome = services.receive_event(payload=payload)
    if outcome == "failed":
        return api_error_response(code="event_failed", message="Handling this event failed; it is recorded and will be retried.", status_code=500)
    if outcome == "in_progress":
        return api_error_response(code="event_in_progress", message="Another delivery of this event is being handled.", status_code=409)
    return JsonResponse({"received": payload["id"], "outcome": outcome})
