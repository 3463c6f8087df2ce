// The message pop-up: the same on every page. A launcher with the unread count,
// a panel listing conversations, and a small live thread with a composer.
// Any link with data-message-to="<username>" opens it on that conversation.
import {
  api, localizeTimes, newClientId, on, onMessage, read, startStream, typing, upsert, viewing,
} from "./chat.js";

const dock = document.getElementById("chat-dock");
const page = document.getElementById("thread-root");

if (dock) {
  const launcher = document.getElementById("chat-launcher");
  const panel = document.getElementById("chat-panel");
  const unread = document.getElementById("chat-unread");
  const list = document.getElementById("chat-list");
  const threadBox = document.getElementById("chat-thread");
  const messages = document.getElementById("chat-messages");
  const notice = document.getElementById("chat-notice");
  const typingLine = document.getElementById("chat-typing");
  const errorLine = document.getElementById("chat-error");
  const composer = document.getElementById("chat-composer");
  const text = document.getElementById("chat-text");
  const sendButton = document.getElementById("chat-send");
  const title = document.getElementById("chat-title");
  const back = document.getElementById("chat-back");
  const full = document.getElementById("chat-full");
  let current = null;  // the conversation open in the pop-up
  let clientId = newClientId();
  let unreadCount = 0;

  dock.hidden = false;

  function setUnread(count) {
    unreadCount = Math.max(0, count);
    unread.hidden = unreadCount === 0;
    unread.textContent = String(unreadCount);
    launcher.setAttribute("aria-label", unreadCount ? `Messages, ${unreadCount} unread` : "Messages");
  }

  async function refreshUnread() {
    const result = await api("/api/conversations/unread/");
    if (!result.ok) return;
    setUnread(result.data.messages);
    if (!page) startStream(result.data.stream_position);
  }
  refreshUnread();
  on("reconnected", refreshUnread);

  function open() {
    panel.hidden = false;
    launcher.setAttribute("aria-expanded", "true");
    if (!current) showList();
  }
  function close() {
    panel.hidden = true;
    launcher.setAttribute("aria-expanded", "false");
    if (current && !page) viewing(null);
  }
  launcher.addEventListener("click", () => (panel.hidden ? open() : close()));
  document.getElementById("chat-close").addEventListener("click", close);
  panel.addEventListener("keydown", (event) => { if (event.key === "Escape") { close(); launcher.focus(); } });
  back.addEventListener("click", showList);

  function avatar(person) {
    if (person.avatar_url) {
      const image = document.createElement("img");
      image.className = "avatar"; image.src = person.avatar_url; image.alt = ""; image.width = 32; image.height = 32;
      return image;
    }
    const span = document.createElement("span");
    span.className = "avatar"; span.setAttribute("aria-hidden", "true"); span.textContent = person.initials;
    return span;
  }

  async function showList() {
    if (current && !page) viewing(null);
    current = null;
    threadBox.hidden = true;
    list.hidden = false;
    back.hidden = true;
    title.textContent = "Messages";
    full.href = "/messages/";
    const result = await api("/api/conversations/?limit=20");
    list.replaceChildren();
    if (!result.ok) return;
    if (!result.data.results.length) {
      const empty = document.createElement("li");
      empty.className = "chat-empty muted";
      empty.textContent = "No conversations yet. Press Message on a creator's page.";
      list.append(empty);
    }
    for (const conversation of result.data.results) {
      const item = document.createElement("li");
      const button = document.createElement("button");
      button.type = "button";
      const main = document.createElement("span");
      main.className = "conversation-main";
      const name = document.createElement("strong");
      name.textContent = conversation.other.name;
      const preview = document.createElement("span");
      preview.className = "conversation-preview muted";
      const last = conversation.last_message;
      preview.textContent = last ? (last.mine ? "You: " : "") + (last.deleted ? "Message deleted" : last.text || "Image") : "";
      main.append(name, preview);
      button.append(avatar(conversation.other), main);
      if (conversation.unread_count) {
        const badge = document.createElement("span");
        badge.className = "unread-count";
        badge.textContent = String(conversation.unread_count);
        button.append(badge);
      }
      button.addEventListener("click", () => showConversation(conversation.id));
      item.append(button);
      list.append(item);
    }
  }

  async function showConversation(conversationId, detail = null) {
    const result = detail ? { ok: true, data: detail } : await api(`/api/conversations/${conversationId}/`);
    if (!result.ok) { errorLine.textContent = result.error.message; errorLine.hidden = false; return; }
    const conversation = result.data;
    current = {
      id: conversation.id,
      ctx: { role: conversation.side, otherName: conversation.other.name, otherReadId: conversation.other_read_id || 0,
             deleteWindowS: 0, actions: false, idPrefix: "chat-m" },
    };
    list.hidden = true;
    threadBox.hidden = false;
    back.hidden = false;
    title.textContent = conversation.other.name;
    full.href = conversation.url;
    errorLine.hidden = true;
    messages.replaceChildren();
    if (conversation.cannot_send) {
      notice.textContent = conversation.cannot_send_message;
      notice.hidden = false;
      composer.hidden = true;
    } else {
      notice.hidden = !conversation.price;
      notice.textContent = conversation.price
        ? `Each message costs ${conversation.price} tokens, held until ${conversation.other.name} replies and refunded if they don't.`
        : "";
      composer.hidden = false;
      sendButton.textContent = conversation.price ? `Send · ${conversation.price}` : "Send";
    }
    const history = await api(`/api/conversations/${conversation.id}/messages/?limit=30`);
    if (history.ok) for (const message of history.data.results) upsert(messages, message, current.ctx);
    localizeTimes(messages);
    messages.scrollTop = messages.scrollHeight;
    if (conversation.unread_count) { read(conversation.id); setUnread(unreadCount - conversation.unread_count); }
    viewing(conversation.id);
    text.focus();
  }

  // Live: the open thread grows; the badge counts what arrives elsewhere.
  onMessage((message, how) => {
    if (how === "new" && !message.mine) {
      const visible = (current && current.id === message.conversation_id && !panel.hidden) ||
        (page && page.dataset.conversationId === message.conversation_id && document.visibilityState === "visible");
      if (visible) read(message.conversation_id, message.id); else setUnread(unreadCount + 1);
    }
    if (current && message.conversation_id === current.id) {
      upsert(messages, message, current.ctx);
      if (how === "new" && !message.mine) typingLine.hidden = true;
      messages.scrollTop = messages.scrollHeight;
    } else if (how === "new" && !panel.hidden && !current) showList();
  });
  on("conversation.read", () => refreshUnread());
  let typingExpiry = null;
  on("message.typing", (event) => {
    if (!current || event.conversation_id !== current.id) return;
    typingLine.hidden = event.state === "stop";
    typingLine.textContent = `${current.ctx.otherName} is typing…`;
    clearTimeout(typingExpiry);
    typingExpiry = setTimeout(() => { typingLine.hidden = true; }, (event.expires_in_s || 45) * 1000);
  });

  let typingSince = 0;
  let stopTimer = null;
  function stopTyping() {
    clearTimeout(stopTimer);
    if (typingSince && current) typing(current.id, "stop");
    typingSince = 0;
  }
  text.addEventListener("input", () => {
    if (!current) return;
    if (!text.value.trim()) { stopTyping(); return; }
    if (!typingSince || Date.now() - typingSince >= 30000) { typing(current.id, "start"); typingSince = Date.now(); }
    clearTimeout(stopTimer);
    stopTimer = setTimeout(stopTyping, 12000);
  });
  text.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) { event.preventDefault(); composer.requestSubmit(); }
  });
  composer.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!current || !text.value.trim()) return;
    sendButton.disabled = true;
    stopTyping();
    const result = await api(`/api/conversations/${current.id}/messages/`, {
      method: "POST", body: { client_message_id: clientId, text: text.value },
    });
    sendButton.disabled = false;
    if (result.ok) {
      errorLine.hidden = true;
      upsert(messages, result.data, current.ctx);
      messages.scrollTop = messages.scrollHeight;
      text.value = "";
      clientId = newClientId();
    } else {
      errorLine.textContent = result.error.message;
      errorLine.hidden = false;
      if (result.status !== 0) clientId = newClientId();  // refused; a network failure keeps the id for the retry
    }
  });

  // "Message" buttons everywhere open the pop-up on that person.
  document.addEventListener("click", async (event) => {
    const link = event.target.closest("[data-message-to]");
    if (!link || event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey) return;
    event.preventDefault();
    open();
    const result = await api("/api/conversations/", { method: "POST", body: { user: link.dataset.messageTo } });
    if (result.ok) showConversation(result.data.id, result.data);
    else { await showList(); errorLine.hidden = true; window.location.href = link.href; }
  });
}
