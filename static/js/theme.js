// Theme toggle: auto (system) -> the opposite of what is shown -> back. The choice is remembered.
const root = document.documentElement;
const button = document.getElementById("theme-toggle");
const systemDark = window.matchMedia("(prefers-color-scheme: dark)");

function effectiveTheme() {
  const chosen = root.dataset.theme;
  if (chosen === "light" || chosen === "dark") return chosen;
  return systemDark.matches ? "dark" : "light";
}

function label() {
  if (button) button.setAttribute("aria-label", `Switch to ${effectiveTheme() === "dark" ? "light" : "dark"} theme`);
}

button?.addEventListener("click", () => {
  const next = effectiveTheme() === "dark" ? "light" : "dark";
  root.dataset.theme = next;
  try { localStorage.setItem("digis-theme", next); } catch (e) { /* not remembered */ }
  label();
});
systemDark.addEventListener("change", label);
label();
