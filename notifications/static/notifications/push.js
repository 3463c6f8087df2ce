// Settings page: turn web push on or off for this browser.
const controls = document.getElementById("push-controls");
const status = document.getElementById("push-status");
const onButton = document.getElementById("push-on");
const offButton = document.getElementById("push-off");

function csrfToken() {
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  if (match) return decodeURIComponent(match[1]);
  return document.querySelector("input[name=csrfmiddlewaretoken]")?.value || "";
}

function applicationServerKey(base64url) {
  const padded = base64url.replace(/-/g, "+").replace(/_/g, "/") + "=".repeat((4 - (base64url.length % 4)) % 4);
  return Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
}

async function api(path, body) {
  const response = await fetch(path, {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken(), Accept: "application/json" },
    body: JSON.stringify(body),
  });
  if (!response.ok) {
    const error = await response.json().catch(() => ({}));
    throw new Error(error?.error?.message || `The server said ${response.status}.`);
  }
  return response.json();
}

function render(subscribed) {
  onButton.hidden = subscribed;
  offButton.hidden = !subscribed;
  if (Notification.permission === "denied") {
    status.textContent = "This browser blocks notifications from Digis. Allow them in the site settings, then reload.";
    onButton.disabled = true;
  } else {
    status.textContent = subscribed ? "Push is on for this device." : "Push is off for this device.";
  }
}

async function start() {
  if (!controls || !("serviceWorker" in navigator) || !("PushManager" in window) || !("Notification" in window)) return;
  document.getElementById("push-unsupported").hidden = true;
  controls.hidden = false;
  const registration = await navigator.serviceWorker.register("/sw.js", { scope: "/" }).then(() => navigator.serviceWorker.ready);
  render(Boolean(await registration.pushManager.getSubscription()));

  onButton.addEventListener("click", async () => {
    onButton.disabled = true;
    try {
      if ((await Notification.requestPermission()) !== "granted") { render(false); return; }
      const subscription = await registration.pushManager.subscribe({
        userVisibleOnly: true,
        applicationServerKey: applicationServerKey(controls.dataset.publicKey),
      });
      await api("/api/notifications/push/subscriptions/", subscription.toJSON());
      localStorage.setItem("digis.push.synced", String(Date.now()));
      location.reload();
    } catch (error) {
      status.textContent = `Could not turn push on: ${error.message}`;
    } finally {
      onButton.disabled = false;
    }
  });

  offButton.addEventListener("click", async () => {
    offButton.disabled = true;
    try {
      const subscription = await registration.pushManager.getSubscription();
      if (subscription) {
        await api("/api/notifications/push/unsubscribe/", { endpoint: subscription.endpoint });
        await subscription.unsubscribe();
      }
      location.reload();
    } catch (error) {
      status.textContent = `Could not turn push off: ${error.message}`;
      offButton.disabled = false;
    }
  });
}

start();
