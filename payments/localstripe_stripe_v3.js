// Digis's stand-in for Stripe.js v3 on the embedded default (served by
// payments/localstripe_server.py at /js.stripe.com/v3/ in place of localstripe's
// own). It covers what /wallet/buy/ uses of Stripe.js with localstripe:
//   Stripe(key).elements().create("card") -> mount, on("change"), destroy
//   Stripe(key).createToken(cardElement)   -> {token} or {error}
//   Stripe(key).confirmCardPayment(secret) -> the 3-D Secure step, {paymentIntent} or {error}
// and behaves the way Stripe's card form does for a person: labelled fields,
// spaces and dashes in the number are fine, the expiry takes "12/34", "12 / 2034"
// or "1234", and mistakes come back in Stripe's own words before anything is sent.
(function () {
  "use strict";
  const API = (function () {
    const src = document.currentScript && document.currentScript.src;
    return src ? src.replace(/\/js\.stripe\.com\/v3\/?$/, "") : "";
  })();

  // Stripe.js's messages for what it checks in the browser (validation_error).
  const MESSAGES = {
    incomplete_number: "Your card number is incomplete.",
    invalid_number: "Your card number is invalid.",
    incomplete_expiry: "Your card's expiration date is incomplete.",
    invalid_expiry_month: "Your card's expiration month is invalid.",
    invalid_expiry_year_past: "Your card's expiration year is in the past.",
    invalid_expiry_month_past: "Your card's expiration date is in the past.",
    incomplete_cvc: "Your card's security code is incomplete.",
  };

  function luhnOk(digits) {
    let sum = 0;
    for (let i = 0; i < digits.length; i++) {
      let d = Number(digits[digits.length - 1 - i]);
      if (i % 2 === 1) { d *= 2; if (d > 9) d -= 9; }
      sum += d;
    }
    return sum % 10 === 0;
  }

  function parseExpiry(text) {
    const digits = text.replace(/\D/g, "");
    const parts = text.split(/[\/\s.-]+/).filter(Boolean);
    let month, year;
    if (parts.length >= 2) { month = parts[0]; year = parts[1]; }
    else if (digits.length === 4 || digits.length === 6) { month = digits.slice(0, 2); year = digits.slice(2); }
    else return null;
    month = Number(month); year = Number(year);
    if (!Number.isInteger(month) || !Number.isInteger(year)) return null;
    if (year < 100) year += 2000;
    return { month, year };
  }

  // What the card form holds, checked as Stripe.js checks it.
  function readCard(inputs) {
    const number = inputs.number.value.replace(/[\s-]/g, "");
    const cvc = inputs.cvc.value.trim();
    const expiry = parseExpiry(inputs.expiry.value.trim());
    const fail = (code, field) => ({ error: { type: "validation_error", code, message: MESSAGES[code], param: field } });
    if (!/^\d+$/.test(number) || number.length < 13) return fail(number && !/^\d+$/.test(number) ? "invalid_number" : "incomplete_number", "number");
    if (number.length > 19 || !luhnOk(number)) return fail("invalid_number", "number");
    if (!expiry) return fail("incomplete_expiry", "exp_month");
    if (expiry.month < 1 || expiry.month > 12) return fail("invalid_expiry_month", "exp_month");
    const now = new Date();
    if (expiry.year < now.getFullYear()) return fail("invalid_expiry_year_past", "exp_year");
    if (expiry.year === now.getFullYear() && expiry.month < now.getMonth() + 1) return fail("invalid_expiry_month_past", "exp_month");
    if (!/^\d{3,4}$/.test(cvc)) return fail("incomplete_cvc", "cvc");
    return { card: { number, exp_month: String(expiry.month), exp_year: String(expiry.year), cvc } };
  }

  function field(id, label, attrs) {
    const wrap = document.createElement("div");
    wrap.className = "stand-in-field";
    Object.assign(wrap.style, { display: "flex", flexDirection: "column", gap: ".25rem", minWidth: "0" });
    const labelEl = document.createElement("label");
    labelEl.htmlFor = id;
    labelEl.textContent = label;
    const input = document.createElement("input");
    input.id = id;
    input.type = "text";
    const { attributes = {}, ...properties } = attrs;
    Object.assign(input, properties);
    for (const [name, value] of Object.entries(attributes)) input.setAttribute(name, value);
    Object.assign(input.style, { width: "100%", boxSizing: "border-box" });
    wrap.append(labelEl, input);
    return { wrap, input };
  }

  class CardElement {
    constructor(group) { this._group = group; this._listeners = {}; this._root = null; this.inputs = null; }

    mount(target) {
      const host = typeof target === "string" ? document.querySelector(target) : target;
      if (!host) throw new Error("Invalid DOM element. Make sure to call mount() with a valid DOM element or selector.");
      const root = document.createElement("div");
      root.className = "stand-in-card";
      Object.assign(root.style, { display: "grid", gridTemplateColumns: "minmax(0, 1fr) minmax(0, 1fr)", gap: ".75rem", margin: "0 0 1rem" });
      const number = field("card-number", "Card number", { inputMode: "numeric", autocomplete: "cc-number", placeholder: "1234 1234 1234 1234", attributes: { "aria-describedby": "card-errors" } });
      number.wrap.style.gridColumn = "1 / -1";
      const expiry = field("card-expiry", "Expiry date (MM / YY)", { inputMode: "numeric", autocomplete: "cc-exp", placeholder: "MM / YY" });
      const cvc = field("card-cvc", "Security code (CVC)", { inputMode: "numeric", autocomplete: "cc-csc", placeholder: "CVC", maxLength: 4 });
      const errors = document.createElement("p");
      errors.id = "card-errors";
      errors.setAttribute("role", "alert");
      Object.assign(errors.style, { gridColumn: "1 / -1", margin: "0", minHeight: "1em" });
      root.append(number.wrap, expiry.wrap, cvc.wrap, errors);
      this.inputs = { number: number.input, expiry: expiry.input, cvc: cvc.input };
      this._errors = errors;
      const changed = () => {
        const result = readCard(this.inputs);
        this._errors.textContent = "";
        for (const handler of this._listeners.change || []) handler({ elementType: "card", complete: !result.error, empty: !this.inputs.number.value, error: undefined });
      };
      // Group the number in fours as the person types, like Stripe's field.
      number.input.addEventListener("input", () => {
        const digits = number.input.value.replace(/\D/g, "").slice(0, 19);
        const grouped = digits.replace(/(\d{4})(?=\d)/g, "$1 ");
        if (/^[\d\s-]*$/.test(number.input.value) && grouped !== number.input.value) number.input.value = grouped;
        changed();
      });
      expiry.input.addEventListener("input", changed);
      cvc.input.addEventListener("input", changed);
      host.append(root);
      this._root = root;
    }

    showError(message) { if (this._errors) this._errors.textContent = message || ""; }
    unmount() { if (this._root) this._root.remove(); this._root = null; this.inputs = null; }
    destroy() { this.unmount(); if (this._group._card === this) this._group._card = null; }
    focus() { if (this.inputs) this.inputs.number.focus(); }
    clear() { if (this.inputs) for (const input of Object.values(this.inputs)) input.value = ""; }
    on(event, handler) { (this._listeners[event] = this._listeners[event] || []).push(handler); return this; }
  }

  async function post(path, fields) {
    const body = new URLSearchParams(fields);
    try {
      const response = await fetch(API + path, { method: "POST", headers: { "Content-Type": "application/x-www-form-urlencoded" }, body });
      const data = await response.json().catch(() => ({}));
      if (!response.ok || data.error) return { error: data.error || { type: "api_error", message: "The payment service did not answer. Try again." } };
      return { data };
    } catch (err) {
      return { error: { type: "api_connection_error", message: "We could not reach the payment service. Check your connection and try again." } };
    }
  }

  function authenticationDialog() {
    return new Promise((resolve) => {
      const dialog = document.createElement("dialog");
      dialog.className = "stand-in-3ds";
      dialog.setAttribute("aria-label", "3-D Secure test authentication");
      const title = document.createElement("h2");
      title.textContent = "3-D Secure test payment";
      const text = document.createElement("p");
      text.textContent = "Your bank asks you to confirm this payment. (A test card: choose what the bank would say.)";
      const ok = document.createElement("button");
      ok.type = "button"; ok.className = "button button-primary"; ok.textContent = "Complete authentication";
      const no = document.createElement("button");
      no.type = "button"; no.className = "button"; no.textContent = "Fail authentication";
      const buttons = document.createElement("p");
      Object.assign(buttons.style, { display: "flex", gap: ".5rem", flexWrap: "wrap" });
      buttons.append(ok, no);
      dialog.append(title, text, buttons);
      document.body.append(dialog);
      const done = (value) => { dialog.close(); dialog.remove(); resolve(value); };
      ok.addEventListener("click", () => done(true));
      no.addEventListener("click", () => done(false));
      dialog.addEventListener("cancel", (event) => { event.preventDefault(); done(false); });
      dialog.showModal();
    });
  }

  window.Stripe = function Stripe(publishableKey) {
    return {
      elements() {
        return {
          _card: null,
          create(type) {
            if (type !== "card") throw new Error(`The local Stripe stand-in offers the "card" element, not "${type}".`);
            if (this._card) throw new Error("Can only create one Element of type card.");
            this._card = new CardElement(this);
            return this._card;
          },
          getElement() { return this._card; },
        };
      },

      async createToken(element) {
        if (!element || !element.inputs) return { error: { type: "validation_error", message: "The card form is not on the page." } };
        const checked = readCard(element.inputs);
        if (checked.error) { element.showError(checked.error.message); return checked; }
        const fields = { key: publishableKey, payment_user_agent: "digis-stand-in" };
        for (const [name, value] of Object.entries(checked.card)) fields[`card[${name}]`] = value;
        const { data, error } = await post("/v1/tokens", fields);
        if (error) { element.showError(error.message); return { error }; }
        element.showError("");
        return { token: data };
      },

      async confirmCardPayment(clientSecret) {
        const match = /^(pi_\w+?)_secret_/.exec(clientSecret || "");
        if (!match) return { error: { type: "invalid_request_error", message: "Invalid client secret." } };
        const success = await authenticationDialog();
        const { data, error } = await post(`/v1/payment_intents/${match[1]}/_authenticate?success=${success}`, { key: publishableKey, client_secret: clientSecret });
        if (error) return { error };
        if (data.status === "requires_payment_method") {
          const failure = data.last_payment_error || {};
          return { error: { type: "card_error", code: failure.code || "payment_intent_authentication_failure", message: "We are unable to authenticate your payment method. Please choose a different payment method and try again." } };
        }
        return { paymentIntent: data };
      },
    };
  };
})();
