// The bell's live count: +1 on each notification.new from the socket, the
// server's figure on notification.unread (another tab read some). The page
// renders the starting count, so without JavaScript the bell is still right
// at load. It listens to the document events realtime.js dispatches
// ("digis:<type>") rather than importing it, so it never loads a second copy
// of the socket module under another (hashed) URL.

const bell = document.getElementById("notification-bell");
const badge = bell && bell.querySelector("[data-bell-count]");
const cap = Number(bell?.dataset.cap || 100);

function show(count) {
  if (!bell) return;
  bell.dataset.unread = String(count);
  const label = count >= cap ? `${cap - 1}+` : String(count);
  badge.textContent = label;
  badge.hidden = count <= 0;
  bell.setAttribute("aria-label", count > 0 ? `Notifications, ${label} unread` : "Notifications");
}

function prepend(notification) {
  // On /notifications/ the new one also appears at the top of the list.
  const list = document.getElementById("notification-list");
  if (!list) return;
  const item = document.createElement("li");
  item.className = "notification notification-unread";
  item.dataset.id = notification.id;
  const body = document.createElement("div");
  body.className = "notification-body";
  const meta = document.createElement("p");
  meta.className = "notification-kind muted";
  meta.textContent = "Just now";
  const text = document.createElement(notification.url ? "a" : "p");
  text.className = "notification-text";
  text.textContent = notification.text;
  if (notification.url) text.href = `/notifications/${notification.id}/open/`;
  body.append(meta, text);
  item.append(body);
  const template = document.getElementById("notification-read-form");
  if (template && /^[0-9a-f-]{36}$/.test(String(notification.id))) {
    const form = template.content.firstElementChild.cloneNode(true);
    form.action = form.dataset.action.replace("00000000-0000-0000-0000-000000000000", notification.id);
    item.append(form);
  }
  list.hidden = false;
  document.getElementById("notification-empty")?.remove();
  list.prepend(item);
}

if (bell) {
  document.addEventListener("digis:notification.new", ({ detail }) => {
    const notification = detail.notification || {};
    if (notification.read) return;
    show(Number(bell.dataset.unread || 0) + 1);
    prepend(notification);
  });
  document.addEventListener("digis:notification.unread", ({ detail }) => show(Number(detail.unread || 0)));
}
