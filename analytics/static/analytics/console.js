// Keeps the console's "Right now" tiles current: re-reads them every 15 s
// while the tab is visible. The page works without it (figures as loaded).
const box = document.getElementById("right-now");
const format = new Intl.NumberFormat();

async function refresh() {
  if (!box || document.hidden) return;
  try {
    const response = await fetch(box.dataset.url, { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (!response.ok) return;
    const now = await response.json();
    for (const cell of box.querySelectorAll("[data-now]")) {
      const value = now[cell.dataset.now];
      if (value !== null && value !== undefined) cell.textContent = format.format(value);
    }
    box.dataset.updated = new Date().toISOString();
  } catch (error) {
    // Offline for a moment: keep what is shown.
  }
}

if (box) {
  setInterval(refresh, 15000);
  document.addEventListener("visibilitychange", refresh);
}
