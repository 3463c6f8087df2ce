// /wallet/buy/: pick a package, pay by card, watch the balance go up.
// Real Stripe.js: the Payment Element confirms in the browser.
// localstripe's stand-in (no confirmPayment): its card element tokenizes the
// card and our API confirms the PaymentIntent server-side.
// Either way tokens arrive only through Stripe's webhook; the page hears about
// it over the socket ("wallet.updated") and, as a fallback, by polling.
import { onEvent } from "/static/js/realtime.js";

const root = document.getElementById("buy");
const form = document.getElementById("pay-form");
const statusLine = document.getElementById("pay-status");
const balance = document.getElementById("wallet-balance");
const payButton = document.getElementById("pay-button");
const stripe = window.Stripe ? window.Stripe(root.dataset.publishableKey) : null;
const hasPaymentElement = stripe && typeof stripe.confirmPayment === "function";
let current = null; // {purchase, elements, card}

function say(text) { statusLine.textContent = text; }

async function api(path, body) {
  const response = await fetch(path, {
    method: body ? "POST" : "GET",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRFToken": root.dataset.csrf },
    body: body ? JSON.stringify(body) : undefined,
  });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error((data.error && data.error.message) || `HTTP ${response.status}`);
  return data;
}

function resetForm() {
  const mount = document.getElementById("payment-element");
  if (current && current.card && current.card.destroy) current.card.destroy();
  mount.replaceChildren();
  form.hidden = true;
  current = null;
}

async function startPurchase(packageId) {
  if (!stripe) { say("The card form could not load. Check your connection and reload."); return; }
  resetForm();
  say("Preparing your payment…");
  try {
    const purchase = await api("/api/payments/purchases/", { package: Number(packageId) });
    let elements, card;
    if (hasPaymentElement) {
      elements = stripe.elements({ clientSecret: purchase.client_secret });
      card = elements.create("payment");
    } else {
      elements = stripe.elements();
      card = elements.create("card");
    }
    card.mount("#payment-element");
    current = { purchase, elements, card };
    document.getElementById("pay-title").textContent = `Pay ${purchase.amount_cents / 100} ${purchase.currency.toUpperCase()} for ${purchase.tokens} tokens`;
    form.hidden = false;
    say("");
  } catch (error) {
    say(error.message);
  }
}

async function pay(event) {
  event.preventDefault();
  if (!current) return;
  const { purchase, elements, card } = current;
  payButton.disabled = true;
  say("Paying…");
  try {
    if (hasPaymentElement) {
      const result = await stripe.confirmPayment({
        elements,
        confirmParams: { return_url: `${location.origin}/wallet/purchases/${purchase.id}/` },
        redirect: "if_required",
      });
      if (result.error) throw new Error(result.error.message);
    } else {
      const result = await stripe.createToken(card);
      if (result.error) throw new Error(result.error.message || "The card was not accepted.");
      await api(`/api/payments/purchases/${purchase.id}/confirm/`, { token: result.token.id });
    }
    form.hidden = true;
    say("Payment received. Waiting for Stripe's confirmation…");
    waitForCredit(purchase.id);
  } catch (error) {
    say(error.message);
  } finally {
    payButton.disabled = false;
  }
}

// Fallback when the socket is not connected: ask a few times.
async function waitForCredit(purchaseId) {
  for (let attempt = 0; attempt < 15; attempt++) {
    await new Promise((resolve) => setTimeout(resolve, 2000));
    try {
      const purchase = await api(`/api/payments/purchases/${purchaseId}/`);
      if (purchase.status === "succeeded") { say(`${purchase.tokens} tokens added. Thank you!`); setTimeout(() => location.reload(), 1500); return; }
      if (purchase.status !== "pending") { say(`Payment ${purchase.status}: ${purchase.failure_reason || ""}`); return; }
    } catch { /* try again */ }
  }
  say("Still waiting for the payment to be confirmed. Your history below will show it.");
}

onEvent("wallet.updated", (event) => {
  balance.textContent = Number(event.balance).toLocaleString();
});

for (const button of root.querySelectorAll("[data-package]")) {
  button.addEventListener("click", () => startPurchase(button.dataset.package));
}
form.addEventListener("submit", pay);
document.getElementById("pay-cancel").addEventListener("click", () => { resetForm(); say(""); });
