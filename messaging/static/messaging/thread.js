// The thread page: live messages, typing, read receipts, older history loaded
// upward, sending through the API (the form still posts without JavaScript).
import {
  api, canDelete, localizeTimes, markRead, newClientId, on, onMessage, read, startStream, typing, upsert, viewing,
} from "./chat.js";

const root = document.getElementById("thread-root");
if (root) {
  const conversationId = root.dataset.conversationId;
  const list = document.getElementById("thread");
  const typingLine = document.getElementById("typing");
  const errorBox = document.getElementById("send-error");
  const composer = document.getElementById("composer");
  const text = document.getElementById("composer-text");
  const ctx = {
    role: root.dataset.role,
    otherName: root.dataset.otherName,
    otherReadId: Number(root.dataset.otherReadId) || 0,
    deleteWindowS: Number(root.dataset.deleteWindowS) || 0,
    actions: true,
    reportAction: (messageId) => `/messages/${conversationId}/report/${messageId}/`,
    keepServerMarkup: true,
  };
  const typingResendMs = (Number(root.dataset.typingResendS) || 30) * 1000;
  const typingIdleMs = (Number(root.dataset.typingIdleS) || 12) * 1000;
  const typingExpiryMs = (Number(root.dataset.typingExpiryS) || 45) * 1000;
  const viewingMs = (Number(root.dataset.viewingRefreshS) || 30) * 1000;

  localizeTimes(list);
  startStream(root.dataset.streamPosition);
  const atBottom = () => window.innerHeight + window.scrollY >= document.body.scrollHeight - 80;
  const scrollDown = () => window.scrollTo({ top: document.body.scrollHeight });
  if (!location.hash && !new URLSearchParams(location.search).get("before")) scrollDown();

  function newestId() {
    const items = list.querySelectorAll(".msg");
    return items.length ? Number(items[items.length - 1].dataset.id) : 0;
  }

  // Read: when a message from them arrives while this page is visible.
  let readTimer = null;
  function readSoon() {
    if (document.visibilityState !== "visible") return;
    clearTimeout(readTimer);
    readTimer = setTimeout(() => read(conversationId, newestId()), 300);
  }
  document.addEventListener("visibilitychange", readSoon);

  function showError(error) {
    if (!errorBox) return;
    errorBox.hidden = false;
    errorBox.dataset.code = error.code;
    errorBox.replaceChildren();
    const line = document.createElement("p");
    line.textContent = error.message;
    errorBox.append(line);
    if (error.code === "insufficient_funds") {
      const buy = document.createElement("a");
      buy.className = "button button-primary";
      buy.href = error.buy_url || root.dataset.buyUrl;
      buy.textContent = "Buy tokens";
      const p = document.createElement("p");
      p.append(buy);
      errorBox.append(p);
    }
  }

  onMessage((message, how) => {
    if (message.conversation_id !== conversationId) return;
    document.getElementById("thread-empty")?.remove();
    const stick = atBottom();
    upsert(list, message, ctx);
    if (how === "new" && !message.mine) {
      hideTyping();
      readSoon();
    }
    if (stick) scrollDown();
  });

  // Typing (Zulip's protocol): "start" when typing begins and again every
  // typingResendMs while it goes on; "stop" after typingIdleMs without input or on send.
  let typingSince = 0;
  let stopTimer = null;
  function stopTyping() {
    clearTimeout(stopTimer);
    if (typingSince) { typing(conversationId, "stop"); typingSince = 0; }
  }
  text?.addEventListener("input", () => {
    if (!text.value.trim()) { stopTyping(); return; }
    const now = Date.now();
    if (!typingSince || now - typingSince >= typingResendMs) { typing(conversationId, "start"); typingSince = now; }
    clearTimeout(stopTimer);
    stopTimer = setTimeout(stopTyping, typingIdleMs);
  });
  let typingExpiry = null;
  function hideTyping() { typingLine.hidden = true; clearTimeout(typingExpiry); }
  on("message.typing", (event) => {
    if (event.conversation_id !== conversationId) return;
    if (event.state === "stop") { hideTyping(); return; }
    typingLine.textContent = `${ctx.otherName} is typing…`;
    typingLine.hidden = false;
    clearTimeout(typingExpiry);
    typingExpiry = setTimeout(hideTyping, typingExpiryMs);
  });

  // Read receipts: theirs (if they share them) mark my messages.
  on("message.read", (event) => {
    if (event.conversation_id !== conversationId) return;
    ctx.otherReadId = Math.max(ctx.otherReadId, event.read_id);
    markRead(list, ctx.otherReadId);
  });

  // Which thread this page shows: the notifications can skip what I am looking at.
  function sayViewing() { if (document.visibilityState === "visible") viewing(conversationId); else viewing(null); }
  on("connected", sayViewing);
  on("reconnected", async () => {
    sayViewing();
    // States (answered, refunded, deleted) may have changed while the socket was away.
    const result = await api(`/api/conversations/${conversationId}/messages/?limit=100`);
    if (result.ok) for (const message of result.data.results) upsert(list, message, ctx);
  });
  document.addEventListener("visibilitychange", sayViewing);
  setInterval(() => { if (document.visibilityState === "visible") viewing(conversationId); }, viewingMs);
  window.addEventListener("pagehide", () => viewing(null));

  // Sending through the API. A network failure keeps the same client_message_id,
  // so pressing Send again can never store or charge the message twice.
  if (composer) {
    const idField = composer.querySelector("input[name=client_message_id]");
    const button = composer.querySelector("button[type=submit]");
    composer.addEventListener("submit", async (event) => {
      event.preventDefault();
      const form = new FormData(composer);
      form.delete("csrfmiddlewaretoken");
      const image = form.get("image");
      if (!image || !image.size) form.delete("image");
      if (!String(form.get("text") || "").trim() && !form.get("image")) return;
      button.disabled = true;
      stopTyping();
      const result = await api(`/api/conversations/${conversationId}/messages/`, { method: "POST", form });
      button.disabled = false;
      if (result.ok) {
        if (errorBox) errorBox.hidden = true;
        upsert(list, result.data, ctx);
        document.getElementById("thread-empty")?.remove();
        composer.reset();
        idField.value = newClientId();
        scrollDown();
      } else {
        showError(result.error);
        if (result.status !== 0) idField.value = newClientId();  // refused: the next try is a new message
      }
    });
    text?.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) { event.preventDefault(); composer.requestSubmit(); }
    });
  }

  // Deleting in place (forms of server-rendered messages, buttons of live ones).
  list.addEventListener("submit", async (event) => {
    const form = event.target.closest("form.msg-delete");
    if (!form) return;
    event.preventDefault();
    await remove(form.dataset.messageId);
  });
  list.addEventListener("click", async (event) => {
    const button = event.target.closest("[data-delete-message]");
    if (button) await remove(button.dataset.deleteMessage);
  });
  async function remove(messageId) {
    const result = await api(`/api/messages/${messageId}/`, { method: "DELETE" });
    if (result.ok) upsert(list, result.data, { ...ctx, keepServerMarkup: false });
    else showError(result.error);
  }
  // Hide delete buttons whose window has passed.
  setInterval(() => {
    for (const form of list.querySelectorAll("form.msg-delete")) {
      const item = form.closest(".msg");
      const message = { mine: item.classList.contains("msg-mine"), created_at: form.dataset.createdAt, escrow_state: item.dataset.state };
      if (!canDelete(message, ctx)) form.remove();
    }
  }, 15000);

  // Older messages, loaded upward when the link scrolls into view (or is clicked).
  const older = document.getElementById("load-older");
  let loading = false;
  async function loadOlder() {
    if (!older || loading || !older.dataset.before) return;
    loading = true;
    const result = await api(`/api/conversations/${conversationId}/messages/?before=${older.dataset.before}`);
    loading = false;
    if (!result.ok) return;
    const height = document.body.scrollHeight;
    for (const message of result.data.results) upsert(list, message, ctx);
    window.scrollBy(0, document.body.scrollHeight - height);  // keep what was on screen in place
    if (result.data.before) { older.dataset.before = result.data.before; older.href = `?before=${result.data.before}`; }
    else older.parentElement.remove();
  }
  if (older) {
    older.addEventListener("click", (event) => { event.preventDefault(); loadOlder(); });
    if ("IntersectionObserver" in window) new IntersectionObserver((entries) => {
      if (entries.some((entry) => entry.isIntersecting)) loadOlder();
    }).observe(older);
  }
}
