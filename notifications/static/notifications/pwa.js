// Installs the service worker (/sw.js: offline page, app shell, web push)
// on every page, signed in or not. When push was turned on in this browser,
// the subscription is sent again once a day, so a browser that rotated it
// keeps receiving pushes.
const DAY_MS = 24 * 3600 * 1000;

function csrfToken() {
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : "";
}

async function resyncPush(registration) {
  if (!document.body.dataset.userId || !("PushManager" in window) || Notification.permission !== "granted") return;
  const last = Number(localStorage.getItem("digis.push.synced") || 0);
  if (Date.now() - last < DAY_MS) return;
  const subscription = await registration.pushManager.getSubscription();
  if (!subscription) return;
  const response = await fetch("/api/notifications/push/subscriptions/", {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken(), Accept: "application/json" },
    body: JSON.stringify(subscription.toJSON()),
  });
  if (response.ok) localStorage.setItem("digis.push.synced", String(Date.now()));
}

if ("serviceWorker" in navigator) {
  navigator.serviceWorker.register("/sw.js", { scope: "/" })
    .then(() => navigator.serviceWorker.ready)
    .then((registration) => resyncPush(registration))
    .catch((error) => console.warn("digis: service worker not installed", error));
}
