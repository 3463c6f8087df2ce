# Sourced by scripts/serve.sh (make run, the browser suite). localstripe is the Stripe of the embedded default:
# a local Stripe-compatible server that also serves a Stripe.js stand-in, so
# tokens can be bought with test card 4242 4242 4242 4242 without an account.
# Skipped when STRIPE_API_HOST or real keys are set (then Stripe itself is used).
if [ -z "${STRIPE_API_HOST:-}" ] && [ "${STRIPE_SECRET_KEY:-sk_test_digis_localstripe}" = "sk_test_digis_localstripe" ]; then
  LOCALSTRIPE_PORT="${LOCALSTRIPE_PORT:-8420}"
  if ! $PY -c "import socket,sys; s=socket.socket(); s.bind(('127.0.0.1', $LOCALSTRIPE_PORT))" 2>/dev/null; then
    LOCALSTRIPE_PORT="$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
  fi
  $PY -m payments.localstripe_server --port "$LOCALSTRIPE_PORT" >"${TMPDIR:-/tmp}/digis-localstripe-$LOCALSTRIPE_PORT.log" 2>&1 &
  children+=("$!")
  export STRIPE_API_HOST="http://127.0.0.1:$LOCALSTRIPE_PORT"
  export STRIPE_WEBHOOK_SECRET="${STRIPE_WEBHOOK_SECRET:-whsec_$($PY -c 'import secrets; print(secrets.token_hex(24))')}"
  # The browser loads localstripe's Stripe.js and its card form talks to it.
  export CSP_EXTRA_SCRIPT_SRC="${CSP_EXTRA_SCRIPT_SRC:+$CSP_EXTRA_SCRIPT_SRC,}$STRIPE_API_HOST"
  export CSP_EXTRA_CONNECT_SRC="${CSP_EXTRA_CONNECT_SRC:+$CSP_EXTRA_CONNECT_SRC,}$STRIPE_API_HOST"
  export CSP_EXTRA_FRAME_SRC="${CSP_EXTRA_FRAME_SRC:+$CSP_EXTRA_FRAME_SRC,}$STRIPE_API_HOST"
  $PY -m payments.localstripe_server --port "$LOCALSTRIPE_PORT" \
    --register-webhook "http://127.0.0.1:$PORT/api/payments/stripe/webhook/" --secret "$STRIPE_WEBHOOK_SECRET"
  echo "localstripe on $STRIPE_API_HOST (webhooks -> /api/payments/stripe/webhook/)"
fi
