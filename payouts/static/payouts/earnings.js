// /earnings/: connect with Stripe without the intermediate page, and reload
// when one of your payouts moves (payout.updated over the socket). The page
// works without this: the forms post and the server renders.
import { onEvent } from "/static/js/realtime.js";

const root = document.getElementById("earnings");

const connect = root && root.querySelector("[data-connect]");
if (connect) {
  connect.addEventListener("submit", async (event) => {
    event.preventDefault();
    const status = connect.querySelector("[data-connect-status]");
    const button = connect.querySelector("button[type=submit]");
    const country = connect.querySelector("select[name=country]");
    button.disabled = true;
    status.textContent = "Opening Stripe…";
    try {
      const response = await fetch("/api/payouts/account/", {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRFToken": root.dataset.csrf },
        body: JSON.stringify({ method: "stripe", country: country ? country.value : "US" }),
      });
      const data = await response.json().catch(() => ({}));
      if (!response.ok || !data.url) throw new Error((data.error && data.error.message) || "Stripe could not be reached. Try again.");
      window.location.assign(data.url);
    } catch (error) {
      status.textContent = error.message;
      button.disabled = false;
    }
  });
}

let reloadTimer = null;
onEvent("payout.updated", () => {
  // Do not throw away what someone is typing.
  if (document.activeElement && ["INPUT", "SELECT", "TEXTAREA"].includes(document.activeElement.tagName)) return;
  clearTimeout(reloadTimer);
  reloadTimer = setTimeout(() => window.location.reload(), 300);
});
