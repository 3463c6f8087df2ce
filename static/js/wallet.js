// Every balance on the page ([data-wallet-balance]: the nav's chip, the wallet and
// buy pages) follows the "wallet.updated" push. realtime.js re-dispatches each
// server event on document as "digis:<type>", so this module needs no socket of
// its own (and works whatever URL the static files are served under).
document.addEventListener("digis:wallet.updated", (event) => {
  const balance = Number(event.detail.balance);
  if (!Number.isFinite(balance)) return;
  for (const element of document.querySelectorAll("[data-wallet-balance]")) {
    element.textContent = balance.toLocaleString("en-US");
  }
  for (const element of document.querySelectorAll("[data-wallet-balance-label]")) {
    element.setAttribute("aria-label", `${balance.toLocaleString("en-US")} tokens. Buy tokens`);
  }
});
