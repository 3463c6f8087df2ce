// /wallet/buy/: pick a package, pay by card, watch the balance go up.
// Real Stripe.js: the Payment Element confirms in the browser (and runs 3-D Secure).
// The local stand-in (make run, tests; no confirmPayment): its card element
// tokenizes the card, our API confirms the PaymentIntent server-side, and a
// card that needs 3-D Secure is authenticated with stripe.confirmCardPayment.
// Either way tokens arrive only through Stripe's webhook; the page hears about
// it over the socket ("wallet.updated", re-dispatched by realtime.js as
// "digis:wallet.updated") and, as a fallback, by asking.

const root = document.getElementById("buy");
const form = document.getElementById("pay-form");
const statusLine = document.getElementById("pay-status");
const payButton = document.getElementById("pay-button");
const stripe = window.Stripe ? window.Stripe(root.dataset.publishableKey) : null;
const hasPaymentElement = stripe && typeof stripe.confirmPayment === "function";
let current = null; // {purchase, elements, card}
let waitingFor = null; // the purchase id whose credit we wait for

function say(text, kind = "") {
  statusLine.textContent = text;
  statusLine.dataset.kind = kind;
  if (kind === "error") statusLine.setAttribute("role", "alert");
  else statusLine.setAttribute("role", "status");
}

class ApiError extends Error {
  constructor(status, body) {
    super((body.error && body.error.message) || `The server answered ${status}. Try again.`);
    this.status = status;
    this.code = body.error && body.error.code;
  }
}

async function api(path, body) {
  let response;
  try {
    response = await fetch(path, {
      method: body ? "POST" : "GET",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": root.dataset.csrf },
      body: body ? JSON.stringify(body) : undefined,
    });
  } catch {
    throw new Error("We could not reach Digis. Check your connection and try again.");
  }
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

function money(cents, currency) {
  return new Intl.NumberFormat("en-US", { style: "currency", currency: currency.toUpperCase() }).format(cents / 100);
}

function resetForm() {
  const mount = document.getElementById("payment-element");
  if (current && current.card && current.card.destroy) current.card.destroy();
  mount.replaceChildren();
  form.hidden = true;
  current = null;
}

async function startPurchase(button) {
  if (!stripe) { say("The card form could not load. Check your connection and reload the page.", "error"); return; }
  resetForm();
  say("Preparing your payment…");
  try {
    const purchase = await api("/api/payments/purchases/", { package: Number(button.dataset.package) });
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
    document.getElementById("pay-title").textContent =
      `Pay ${money(purchase.amount_cents, purchase.currency)} for ${purchase.tokens.toLocaleString("en-US")} tokens`;
    form.hidden = false;
    say("");
    if (card.focus) card.focus();
  } catch (error) {
    say(error.message, "error");
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
      const tokenized = await stripe.createToken(card);
      if (tokenized.error) throw new Error(tokenized.error.message || "The card was not accepted.");
      const confirmed = await api(`/api/payments/purchases/${purchase.id}/confirm/`, { token: tokenized.token.id });
      if (confirmed.payment_intent_status === "requires_action") {
        say("Your bank asks you to confirm this payment…");
        const authenticated = await stripe.confirmCardPayment(confirmed.client_secret);
        if (authenticated.error) throw new Error(authenticated.error.message);
      }
    }
    resetForm();
    say("Payment received. Your tokens are on their way…");
    waitForCredit(purchase);
  } catch (error) {
    // The form stays open: the same purchase can be paid with another card.
    say(error.message, "error");
  } finally {
    payButton.disabled = false;
  }
}

async function refreshHistory() {
  try {
    const response = await fetch(location.pathname, { credentials: "same-origin" });
    const page = new DOMParser().parseFromString(await response.text(), "text/html");
    const fresh = page.getElementById("purchase-history");
    if (fresh) document.getElementById("purchase-history").replaceWith(fresh);
  } catch { /* the history shows on the next visit */ }
}

function credited(purchase) {
  if (waitingFor !== purchase.id) return;
  waitingFor = null;
  say(`${purchase.tokens.toLocaleString("en-US")} tokens added. Thank you!`, "success");
  refreshHistory();
}

// The socket usually says it first; asking covers a socket that is not connected.
async function waitForCredit(purchase) {
  waitingFor = purchase.id;
  for (let attempt = 0; attempt < 20 && waitingFor === purchase.id; attempt++) {
    await new Promise((resolve) => setTimeout(resolve, 1500));
    if (waitingFor !== purchase.id) return;
    try {
      const now = await api(`/api/payments/purchases/${purchase.id}/`);
      if (now.status === "succeeded") {
        // The push may be late: the nav and this page show the balance we know now.
        const wallet = await api("/api/wallet/");
        for (const element of document.querySelectorAll("[data-wallet-balance]")) {
          element.textContent = Number(wallet.balance).toLocaleString("en-US");
        }
        credited(purchase);
        return;
      }
      if (now.status !== "pending" && now.status !== "failed") {
        say(`This payment ended as: ${now.status.replace("_", " ")}. ${now.failure_reason || ""}`, "error");
        waitingFor = null;
        return;
      }
    } catch { /* ask again */ }
  }
  if (waitingFor === purchase.id) say("The payment is still being confirmed. Your balance updates as soon as it is.");
}

document.addEventListener("digis:wallet.updated", () => {
  if (waitingFor) api(`/api/payments/purchases/${waitingFor}/`).then((purchase) => {
    if (purchase.status === "succeeded") credited(purchase);
  }).catch(() => {});
});

for (const button of root.querySelectorAll("[data-package]")) {
  button.addEventListener("click", () => startPurchase(button));
  button.disabled = false;  // the page renders it disabled until this module can take the click
}
form.addEventListener("submit", pay);
document.getElementById("pay-cancel").addEventListener("click", () => { resetForm(); say(""); });
