"""How many viewers can a host's own browser serve peer to peer? (sets LIVE_P2P_MAX_VIEWERS)

    .venv/bin/python bench/live_p2p.py [--viewers 1,2,4,6,8] [--seconds 20] [--width 640 --height 360 --fps 30]

Without Agora the host's page keeps one RTCPeerConnection per viewer, and each
one encodes and uploads the camera again. This runs what the live page does, in
Debian's headless Chromium with a fake camera: a "host" browser opens N sender
connections, a second browser process opens the N receivers (signalling through
a small HTTP mailbox on loopback). For each N it measures, over --seconds of
steady sending, the CPU of the host browser's process tree (from /proc), the
frames per second each connection actually encoded, the bitrate sent, and
WebRTC's own quality-limitation reason (cpu / bandwidth / none). The figures go
to bench/RESULTS.md ("## streaming: peer-to-peer host capacity").
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from servers import free_port, write_results_section  # noqa: E402

SECTION = "## streaming: peer-to-peer host capacity"

PAGE = r"""<!doctype html><meta charset="utf-8"><title>p2p</title><script>
const params = new URLSearchParams(location.search);
const role = params.get("role"), n = Number(params.get("n"));
const W = Number(params.get("w")), H = Number(params.get("h")), FPS = Number(params.get("fps"));
const post = (path, body) => fetch(path, {method: "POST", body: JSON.stringify(body)});
async function recv(me) { return (await fetch(`/recv?me=${me}`)).json(); }
const gathered = (pc) => new Promise((ok) => { if (pc.iceGatheringState === "complete") ok(); else pc.addEventListener("icegatheringstatechange", () => pc.iceGatheringState === "complete" && ok()); });
async function host() {
  const stream = await navigator.mediaDevices.getUserMedia({audio: true, video: {width: W, height: H, frameRate: FPS}});
  const pcs = [];
  for (let i = 0; i < n; i++) {
    const pc = new RTCPeerConnection();
    for (const t of stream.getTracks()) pc.addTrack(t, stream);
    await pc.setLocalDescription(await pc.createOffer());
    await gathered(pc);
    await post(`/send?to=viewer`, {i, sdp: pc.localDescription.sdp});
    pcs.push(pc);
  }
  let answered = 0;
  while (answered < n) {
    for (const m of await recv("host")) { await pcs[m.i].setRemoteDescription({type: "answer", sdp: m.sdp}); answered++; }
    await new Promise((r) => setTimeout(r, 100));
  }
  const prev = new Map();
  setInterval(async () => {
    const report = [];
    for (const pc of pcs) {
      const stats = await pc.getStats();
      for (const s of stats.values()) if (s.type === "outbound-rtp" && s.kind === "video") {
        report.push({state: pc.connectionState, frames: s.framesEncoded, bytes: s.bytesSent, fps: s.framesPerSecond || 0,
                     limit: s.qualityLimitationReason, w: s.frameWidth, h: s.frameHeight});
      }
    }
    post("/result", {t: Date.now(), report});
  }, 1000);
}
async function viewer() {
  let made = 0;
  const pcs = [];
  while (made < n) {
    for (const m of await recv("viewer")) {
      const pc = new RTCPeerConnection();
      pc.addEventListener("track", (e) => { const v = document.createElement("video"); v.muted = true; v.srcObject = e.streams[0]; v.play(); document.body.append(v); });
      await pc.setRemoteDescription({type: "offer", sdp: m.sdp});
      await pc.setLocalDescription(await pc.createAnswer());
      await gathered(pc);
      await post(`/send?to=host`, {i: m.i, sdp: pc.localDescription.sdp});
      pcs.push(pc); made++;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}
(role === "host" ? host() : viewer()).catch((e) => post("/result", {error: String(e)}));
</script>"""


class Mailbox:
    def __init__(self):
        self.queues = {"host": [], "viewer": []}
        self.results = []
        self.lock = threading.Lock()


def serve(mailbox: Mailbox, port: int) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def _json(self, value, status=200):
            body = json.dumps(value).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            if self.path.startswith("/recv"):
                me = self.path.split("me=")[1]
                with mailbox.lock:
                    items, mailbox.queues[me] = mailbox.queues[me], []
                return self._json(items)
            body = PAGE.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self):
            data = json.loads(self.rfile.read(int(self.headers["Content-Length"])) or b"null")
            with mailbox.lock:
                if self.path.startswith("/send"):
                    mailbox.queues[self.path.split("to=")[1]].append(data)
                elif self.path == "/result":
                    mailbox.results.append(data)
            self._json({"ok": True})

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def chromium(url: str, profile: str, fps: int) -> subprocess.Popen:
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if not binary:
        sys.exit("chromium not found (apt-get install chromium)")
    flags = ["--headless=new", "--no-sandbox", f"--use-fake-device-for-media-stream=fps={fps}", "--use-fake-ui-for-media-stream",
             "--autoplay-policy=no-user-gesture-required", "--disable-features=WebRtcHideLocalIpsWithMdns",
             f"--user-data-dir={profile}", "--no-first-run", "--mute-audio", url]
    return subprocess.Popen([binary, *flags], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


def tree(pid: int) -> list[int]:
    children = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            children.setdefault(parent, []).append(int(stat.parent.name))
        except (OSError, ValueError, IndexError):
            continue
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def cpu_ms(pids) -> float:
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, IndexError):
            continue
    return total * 1000 / tick


def measure(n: int, args) -> dict:
    mailbox = Mailbox()
    port = free_port()
    server = serve(mailbox, port)
    profiles = [tempfile.mkdtemp(prefix="digis-p2p-"), tempfile.mkdtemp(prefix="digis-p2p-")]
    query = f"n={n}&w={args.width}&h={args.height}&fps={args.fps}"
    viewer = chromium(f"http://127.0.0.1:{port}/?role=viewer&{query}", profiles[1], args.fps)
    host = chromium(f"http://127.0.0.1:{port}/?role=host&{query}", profiles[0], args.fps)
    try:
        deadline = time.time() + 90
        while time.time() < deadline:
            with mailbox.lock:
                last = mailbox.results[-1] if mailbox.results else None
            if last and "error" in last:
                raise RuntimeError(last["error"])
            if last and len(last["report"]) == n and all(r["state"] == "connected" for r in last["report"]):
                break
            time.sleep(0.5)
        else:
            raise RuntimeError(f"{n} connections did not all connect")
        time.sleep(args.ramp)  # let the encoders ramp up (bandwidth estimation starts low)
        with mailbox.lock:
            first = mailbox.results[-1]
        pids = tree(host.pid)
        cpu0, t0 = cpu_ms(pids), time.time()
        time.sleep(args.seconds)
        cpu1, t1 = cpu_ms(tree(host.pid)), time.time()
        with mailbox.lock:
            last = mailbox.results[-1]
        elapsed = (last["t"] - first["t"]) / 1000
        fps = [(b["frames"] - a["frames"]) / elapsed for a, b in zip(first["report"], last["report"])]
        kbps = [(b["bytes"] - a["bytes"]) * 8 / elapsed / 1000 for a, b in zip(first["report"], last["report"])]
        limits = sorted({r["limit"] for r in last["report"]})
        return {
            "viewers": n, "host_cpu_pct": (cpu1 - cpu0) / ((t1 - t0) * 1000) * 100,
            "fps_min": min(fps), "fps_mean": sum(fps) / n, "kbps_each": sum(kbps) / n, "upload_mbps": sum(kbps) / 1000,
            "limits": limits, "resolution": f"{last['report'][0]['w']}x{last['report'][0]['h']}",
            "load": open("/proc/loadavg").read().split()[0],
        }
    finally:
        for proc in (host, viewer):
            try:
                os.killpg(proc.pid, 15)
            except ProcessLookupError:
                pass
            proc.wait(timeout=20)
        server.shutdown()
        for profile in profiles:
            shutil.rmtree(profile, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--viewers", default="1,2,4,6,8")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=360)
    parser.add_argument("--fps", type=int, default=30)
    parser.add_argument("--ramp", type=float, default=15, help="seconds of sending before the measured window")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    rows = []
    for n in [int(x) for x in args.viewers.split(",")]:
        result = measure(n, args)
        print(json.dumps(result), flush=True)
        rows.append(result)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=Path(__file__).resolve().parent).stdout.strip()
    header = (f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, commit {commit}, {os.cpu_count()} CPUs shared with other "
              f"engineers' runs, Debian Chromium headless, fake camera {args.width}x{args.height} at {args.fps} fps, VP8, "
              f"{args.seconds:.0f} s per step")
    table = ["| viewers | load | host browser CPU (% of one core) | per viewer | encoded fps (min / mean) | kbit/s each | upload | limited by |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        table.append(f"| {r['viewers']} | {r['load']} | {r['host_cpu_pct']:.0f} % | {r['host_cpu_pct'] / r['viewers']:.0f} % | "
                     f"{r['fps_min']:.0f} / {r['fps_mean']:.0f} | {r['kbps_each']:.0f} | {r['upload_mbps']:.1f} Mbit/s | {', '.join(r['limits'])} |")
    body = f"{SECTION}\n\n{header}.\n\n" + "\n".join(table) + "\n"
    print(body)
    if not args.no_write:
        print("written to", write_results_section(SECTION, body))


if __name__ == "__main__":
    main()
