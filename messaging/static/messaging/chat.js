// Shared by the thread page, the inbox and the pop-up: the page's message stream,
// the API, and how one message looks. Text is always set as text, never as HTML.
import { onEvent, sendEvent } from "/static/js/realtime.js";

// --- the stream: every message of mine in id order, exactly once --------------------
// Each message.new event carries prev_id, the message before it in my stream.
// The cursor is the last id up to which nothing is missing; a gap (or a
// reconnect) asks the server for everything after it (messages.sync).
const stream = { cursor: null, syncing: false, again: false, connected: false };
const messageListeners = new Set();
const eventListeners = new Map();

export function onMessage(callback) { messageListeners.add(callback); return () => messageListeners.delete(callback); }

export function on(type, callback) {
  if (!eventListeners.has(type)) eventListeners.set(type, new Set());
  eventListeners.get(type).add(callback);
}

function emit(type, event) {
  for (const callback of eventListeners.get(type) || []) {
    try { callback(event); } catch (error) { console.error("digis messaging: listener failed", error); }
  }
}

function deliver(message, how) {
  for (const callback of messageListeners) {
    try { callback(message, how); } catch (error) { console.error("digis messaging: listener failed", error); }
  }
}

export function startStream(position) {
  const value = Number(position) || 0;
  if (stream.cursor === null || value > stream.cursor) stream.cursor = value;
  if (stream.connected) requestSync();
}

export function hasStream() { return stream.cursor !== null; }

function requestSync() {
  if (stream.cursor === null) return;
  if (stream.syncing) { stream.again = true; return; }
  stream.syncing = true;
  sendEvent({ type: "messages.sync", after: stream.cursor, ref: "messages.sync" });
}

onEvent("error", (event) => { if (event.ref === "messages.sync") stream.syncing = false; });

onEvent("hello", () => {
  const reconnect = stream.connected;
  stream.connected = true;
  stream.syncing = false;
  if (stream.cursor !== null) requestSync();
  emit(reconnect ? "reconnected" : "connected", {});
});

onEvent("socket.closed", () => { stream.connected = false; });

onEvent("messages.synced", (event) => {
  stream.syncing = false;
  for (const message of event.messages) deliver(message, "new");
  if (event.last_id > (stream.cursor || 0)) stream.cursor = event.last_id;
  if (event.has_more || stream.again) { stream.again = false; requestSync(); }
});

onEvent("message.new", (event) => {
  if (stream.cursor !== null) {
    if (event.prev_id === stream.cursor) stream.cursor = event.message.id;
    else if (event.prev_id > stream.cursor) requestSync();
  }
  deliver(event.message, "new");
});

onEvent("message.updated", (event) => deliver(event.message, "updated"));
for (const type of ["message.typing", "message.read", "conversation.read", "error"]) onEvent(type, (event) => emit(type, event));

// --- the API ----------------------------------------------------------------------------
function csrfToken() {
  const field = document.querySelector("input[name=csrfmiddlewaretoken]");
  if (field) return field.value;
  return document.getElementById("chat-dock")?.dataset.csrf || "";
}

export async function api(path, { method = "GET", body = null, form = null } = {}) {
  const headers = { Accept: "application/json", "X-CSRFToken": csrfToken() };
  let payload = null;
  if (form) payload = form;
  else if (body !== null) { headers["Content-Type"] = "application/json"; payload = JSON.stringify(body); }
  let response;
  try {
    response = await fetch(path, { method, headers, body: payload, credentials: "same-origin" });
  } catch (networkError) {
    return { ok: false, status: 0, data: null, error: { code: "network", message: "No connection. Try again." } };
  }
  let data = null;
  try { data = await response.json(); } catch { data = null; }
  return { ok: response.ok, status: response.status, data, error: response.ok ? null : (data && data.error) || { code: "error", message: "Something went wrong." } };
}

export function newClientId() {
  if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
  return `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 12)}`;
}

export function read(conversationId, upTo) { sendEvent({ type: "messages.read", conversation_id: conversationId, up_to: upTo }); }
export function typing(conversationId, state) { sendEvent({ type: "messages.typing", conversation_id: conversationId, state }); }
export function viewing(conversationId) { sendEvent({ type: "messages.viewing", conversation_id: conversationId }); }

// --- how a message looks (the same markup as messaging/_message.html) --------------------
const dayTime = { weekday: "short", hour: "2-digit", minute: "2-digit" };
const full = { weekday: "short", day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" };

export function formatTime(iso, options = full) {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? "" : date.toLocaleString([], options);
}

export function localizeTimes(root) {
  for (const element of root.querySelectorAll("time[datetime]")) {
    const iso = element.getAttribute("datetime");
    if (iso) element.textContent = formatTime(iso, element.closest(".msg-escrow") ? dayTime : full);
  }
}

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function timeEl(iso, options) {
  const node = el("time", "", formatTime(iso, options));
  node.setAttribute("datetime", iso);
  return node;
}

export function escrowLabel(message, ctx) {
  const span = el("span", `msg-escrow escrow-${message.escrow_state}`);
  if (message.escrow_state === "held") {
    if (message.mine) {
      span.append(`held · ${message.price} tokens, refunded if ${ctx.otherName} doesn't reply by `, timeEl(message.reply_by, dayTime));
    } else {
      span.append(`paid ${message.price} tokens · reply by `, timeEl(message.reply_by, dayTime), " to earn them");
    }
  } else if (message.escrow_state === "released") span.textContent = `answered · ${message.price} tokens`;
  else if (message.escrow_state === "refunded") span.textContent = `refunded · ${message.price} tokens`;
  else return null;
  return span;
}

export function canDelete(message, ctx) {
  if (message.deleted || message.hidden) return false;
  if (message.mine) return Date.now() - new Date(message.created_at).getTime() <= ctx.deleteWindowS * 1000;
  return ctx.role === "creator" && message.escrow_state === "held";
}

const REASONS = [["spam", "Spam"], ["harassment", "Harassment"], ["illegal", "Illegal content"],
  ["impersonation", "Impersonation"], ["underage", "Underage"], ["other", "Other"]];

// The same report form as the server renders (a plain POST; works as is).
function reportForm(message, ctx) {
  const details = el("details", "msg-report");
  details.append(el("summary", "", "Report"));
  const form = el("form");
  form.method = "post";
  form.action = ctx.reportAction(message.id);
  const token = el("input");
  token.type = "hidden"; token.name = "csrfmiddlewaretoken"; token.value = csrfToken();
  const label = el("label", "", "Why? ");
  const select = el("select");
  select.name = "reason";
  for (const [value, text] of REASONS) {
    const option = el("option", "", text);
    option.value = value;
    select.append(option);
  }
  label.append(select);
  const button = el("button", "button", "Report");
  button.type = "submit";
  form.append(token, label, button);
  details.append(form);
  return details;
}

export function renderMessage(message, ctx) {
  const item = el("li", `msg ${message.mine ? "msg-mine" : "msg-theirs"}`);
  item.id = `${ctx.idPrefix || "m"}${message.id}`;
  item.dataset.id = message.id;
  item.dataset.state = message.escrow_state;
  const bubble = el("div", "msg-bubble");
  if (message.deleted) bubble.append(el("p", "msg-gone", "Message deleted"));
  else if (message.hidden) bubble.append(el("p", "msg-gone", "Removed by a moderator"));
  else {
    if (message.kind === "broadcast") bubble.append(el("p", "msg-kind", "Broadcast to fans"));
    if (message.text) bubble.append(el("p", "msg-text", message.text));
    if (message.image_url) {
      const link = el("a");
      link.href = message.image_url; link.target = "_blank"; link.rel = "noopener";
      const image = el("img", "msg-image");
      image.src = message.image_url; image.alt = "Image"; image.loading = "lazy";
      link.append(image);
      bubble.append(link);
    }
  }
  item.append(bubble);
  const meta = el("p", "msg-meta");
  meta.append(timeEl(message.created_at, full));
  const escrow = escrowLabel(message, ctx);
  if (escrow) meta.append(escrow);
  if (message.mine && ctx.otherReadId && message.id <= ctx.otherReadId) meta.append(el("span", "msg-read", "✓ read"));
  item.append(meta);
  if (!message.deleted && !message.hidden && ctx.actions) {
    const actions = el("div", "msg-actions");
    if (canDelete(message, ctx)) {
      const button = el("button", "link-button", message.mine ? "Delete" : "Decline and refund");
      button.type = "button";
      button.dataset.deleteMessage = message.id;
      actions.append(button);
    }
    if (!message.mine && ctx.reportAction) actions.append(reportForm(message, ctx));
    if (actions.childElementCount) item.append(actions);
  }
  return item;
}

// Put a message into a list in id order, replacing the one with the same id.
export function upsert(list, message, ctx) {
  const node = renderMessage(message, ctx);
  const existing = list.querySelector(`[data-id="${message.id}"]`);
  if (existing) {
    if (ctx.keepServerMarkup && existing.dataset.state === message.escrow_state && !message.deleted && !message.hidden) return existing;
    existing.replaceWith(node);
    return node;
  }
  const after = [...list.querySelectorAll(".msg")].find((item) => Number(item.dataset.id) > message.id);
  if (after) list.insertBefore(node, after); else list.append(node);
  return node;
}

export function markRead(list, otherReadId) {
  for (const item of list.querySelectorAll(".msg-mine")) {
    const meta = item.querySelector(".msg-meta");
    if (!meta) continue;
    const has = meta.querySelector(".msg-read");
    if (Number(item.dataset.id) <= otherReadId && !has) meta.append(el("span", "msg-read", "✓ read"));
  }
}

export { sendEvent };
