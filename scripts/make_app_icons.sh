#!/usr/bin/env bash
# Re-draws the installable app's PNG icons from the SVGs with headless Chromium
# (Debian's `chromium`), then lets Pillow (in .venv) shrink them. Run it after
# changing static/img/logo.svg or notifications/static/notifications/icons/maskable.svg;
# the PNGs are committed, so a deploy needs neither tool.
set -euo pipefail
cd "$(dirname "$0")/.."
out=notifications/static/notifications/icons
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cp static/img/logo.svg "$out/maskable.svg" "$work/"
page() { printf '<!doctype html><style>html,body{margin:0;background:transparent}img{display:block;width:100vw;height:100vh}</style><img src="%s">' "$1" > "$work/$2"; }
page logo.svg any.html
page maskable.svg maskable.html
shoot() { chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --default-background-color=00000000 --window-size="$2,$2" --screenshot="$work/$3" "file://$work/$1" >/dev/null 2>&1; }
shoot any.html 192 icon-192.png
shoot any.html 512 icon-512.png
shoot maskable.html 512 maskable-512.png
for name in icon-192.png icon-512.png maskable-512.png; do
  .venv/bin/python -c "import sys; from PIL import Image; Image.open(sys.argv[1]).save(sys.argv[2], optimize=True)" "$work/$name" "$out/$name"
done
echo "wrote $out/icon-192.png, icon-512.png, maskable-512.png"
