// The page's one socket to /ws/. Other modules import { onEvent, sendEvent }.
// Server events arrive as {"type": "...", ...}; each type has its listeners.
const listeners = new Map();
const pending = [];
let socket = null;
let pingTimer = null;
let retryMs = 1000;
let closedForGood = false;

export function onEvent(type, callback) {
  if (!listeners.has(type)) listeners.set(type, new Set());
  listeners.get(type).add(callback);
  return () => listeners.get(type).delete(callback);
}

export function sendEvent(event) {
  const text = JSON.stringify(event);
  if (socket && socket.readyState === WebSocket.OPEN) socket.send(text);
  else pending.push(text);
}

function dispatch(event) {
  for (const callback of listeners.get(event.type) || []) {
    try { callback(event); } catch (error) { console.error("digis: listener failed", error); }
  }
  for (const callback of listeners.get("*") || []) callback(event);
  document.dispatchEvent(new CustomEvent(`digis:${event.type}`, { detail: event }));
}

function connect() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  socket = new WebSocket(`${scheme}://${location.host}/ws/`);
  socket.addEventListener("open", () => {
    retryMs = 1000;
    while (pending.length) socket.send(pending.shift());
  });
  socket.addEventListener("message", (message) => {
    let event;
    try { event = JSON.parse(message.data); } catch { return; }
    if (event.type === "hello") {
      clearInterval(pingTimer);
      pingTimer = setInterval(() => sendEvent({ type: "ping" }), (event.ping_interval_s || 30) * 1000);
    }
    dispatch(event);
  });
  socket.addEventListener("close", (closeEvent) => {
    clearInterval(pingTimer);
    // 4401/4403: signed out or not allowed; reconnecting cannot help.
    if (closeEvent.code === 4401 || closeEvent.code === 4403) { closedForGood = true; dispatch({ type: "socket.closed", code: closeEvent.code }); return; }
    if (closedForGood) return;
    setTimeout(connect, retryMs + Math.random() * 500);
    retryMs = Math.min(retryMs * 2, 30000);
  });
}

if (document.body.dataset.userId) connect();
