// "Load more" on Explore: fetch the next page (the same URL the link points
// at without JS) and append its cards instead of navigating.
const link = document.getElementById("load-more");
const grid = document.getElementById("explore-results");

async function loadMore(event) {
  event.preventDefault();
  const current = document.getElementById("load-more");
  current.setAttribute("aria-busy", "true");
  try {
    const response = await fetch(current.href, { headers: { Accept: "text/html" }, credentials: "same-origin" });
    if (!response.ok) { window.location = current.href; return; }
    const doc = new DOMParser().parseFromString(await response.text(), "text/html");
    for (const card of doc.querySelectorAll("#explore-results > li")) grid.append(document.adoptNode(card));
    const next = doc.getElementById("load-more");
    if (next) { current.href = next.href; current.removeAttribute("aria-busy"); }
    else current.parentElement.remove();
  } catch {
    window.location = current.href;
  }
}

if (link && grid) link.addEventListener("click", loadMore);
