// Broadcast progress, live: "delivered / recipients" as the batches land.
import { onEvent } from "/static/js/realtime.js";

onEvent("broadcast.progress", (event) => {
  const row = document.querySelector(`[data-broadcast-id="${event.broadcast.id}"] [data-progress]`);
  if (!row) return;
  const { delivered_count: delivered, recipient_count: total, status } = event.broadcast;
  row.textContent = `${delivered} / ${total}${status === "done" ? "" : ` · ${status}`}`;
});
