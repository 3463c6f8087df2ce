// Digis service worker (served at /sw.js by notifications.views.service_worker).
//
// What it caches: the app shell only (public CSS, JS, icons, the offline
// page), listed below by the server. Never the HTML of a page, never an API
// response: those are private to whoever is signed in, and a shared or
// stolen device must not show them offline.
// What it does: shows /offline/ when a page cannot load; shows web push
// notifications and, on click, focuses or opens the page they point to.
const CACHE = "digis-shell-__SHELL_VERSION__";
const SHELL = {{ shell_json|safe }};
const OFFLINE_URL = "/offline/";

self.addEventListener("install", (event) => {
  event.waitUntil(
    caches.open(CACHE)
      .then((cache) => cache.addAll(SHELL.map((url) => new Request(url, { credentials: "omit", cache: "reload" }))))
      .then(() => self.skipWaiting()),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches.keys()
      .then((keys) => Promise.all(keys.filter((key) => key.startsWith("digis-shell-") && key !== CACHE).map((key) => caches.delete(key))))
      .then(() => self.clients.claim()),
  );
});

const shellPaths = new Set(SHELL.map((url) => new URL(url, self.location.origin).pathname));

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (request.mode === "navigate") {
    // Pages always come from the network; only when it fails, the offline page.
    event.respondWith(fetch(request).catch(() => caches.match(OFFLINE_URL)));
    return;
  }
  if (shellPaths.has(url.pathname)) {
    // The shell: fresh from the network when there is one, the cached copy when not.
    event.respondWith(
      fetch(request).catch(() => caches.open(CACHE).then((cache) => cache.match(url.pathname))),
    );
  }
  // Everything else (API, media, sockets) is left to the browser, uncached.
});

self.addEventListener("push", (event) => {
  let data = {};
  try { data = event.data ? event.data.json() : {}; } catch { data = { body: event.data ? event.data.text() : "" }; }
  const title = data.title || "Digis";
  event.waitUntil(
    self.registration.showNotification(title, {
      body: data.body || "",
      tag: data.tag || undefined,
      renotify: Boolean(data.tag),
      requireInteraction: Boolean(data.require_interaction),
      icon: SHELL.find((url) => url.includes("icon-192")),
      badge: SHELL.find((url) => url.includes("icon-192")),
      timestamp: data.created_at ? Date.parse(data.created_at) : Date.now(),
      data: { url: data.url || "/notifications/", kind: data.kind || "", id: data.id || "" },
    }),
  );
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const target = new URL((event.notification.data && event.notification.data.url) || "/notifications/", self.location.origin);
  event.waitUntil((async () => {
    const windows = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
    // A tab of ours: bring it forward and take it there (the link marks the
    // notification read, then redirects to what it is about, e.g. the call).
    for (const client of windows) {
      if (new URL(client.url).origin !== self.location.origin) continue;
      await client.focus();
      if ("navigate" in client) {
        try { await client.navigate(target.href); return; } catch { /* not controlled by us: open a new one */ }
      }
    }
    await self.clients.openWindow(target.href);
  })());
});
