// Applied before first paint: the remembered theme, else the system's.
(function () {
  try {
    var saved = localStorage.getItem("digis-theme");
    if (saved === "light" || saved === "dark") document.documentElement.dataset.theme = saved;
  } catch (e) { /* storage disabled: follow the system */ }
})();
