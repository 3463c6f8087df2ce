// The inbox: a conversation with a new message moves to the top with its unread count.
import { onMessage, startStream } from "./chat.js";

const root = document.getElementById("inbox-root");
if (root) {
  startStream(root.dataset.streamPosition);
  onMessage((message, how) => {
    if (how !== "new") return;
    const list = document.getElementById("conversation-list");
    const item = list?.querySelector(`[data-conversation-id="${message.conversation_id}"]`);
    if (!item) { location.reload(); return; }  // a new conversation: the server renders it
    const preview = item.querySelector(".conversation-preview");
    if (preview) preview.textContent = (message.mine ? "You: " : "") + (message.text || (message.image_url ? "Image" : ""));
    if (!message.mine) {
      item.classList.add("is-unread");
      let badge = item.querySelector(".unread-count");
      if (!badge) {
        badge = document.createElement("span");
        badge.className = "unread-count";
        item.querySelector(".conversation-link").append(badge);
      }
      badge.textContent = String((Number(badge.textContent) || 0) + 1);
    }
    list.prepend(item);
  });
}
