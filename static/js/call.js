// Calls in the browser: the incoming-call ringer (every page, creators) and
// the call page (media, presence heartbeats, timer, warnings, receipt).
//
// Media: POST /api/calls/{id}/token/ says which provider to use.
// - "webrtc": a peer-to-peer RTCPeerConnection; offers, answers and ICE
//   candidates travel as `call.signal` events over the page's /ws/ socket.
//   The fan makes the offer. Each page load has its own session id, so a
//   reload on either side starts a fresh negotiation instead of mixing two.
// - "agora": the Agora Web SDK, served from /static/vendor/agora/AgoraRTC_N.js
//   (a file the operator provides; no CDN), joined with the server's token.
// Billing only counts time the server sees both parties present, so this page
// sends `call.join` when media is really connected, `call.heartbeat` every
// 10 s while it stays connected, and `call.leave` when it is not.
import { onEvent, sendEvent } from "/static/js/realtime.js";

const HEARTBEAT_MS = 10_000;

// --- helpers -------------------------------------------------------------------

function csrfToken() {
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  if (match) return decodeURIComponent(match[1]);
  const input = document.querySelector("input[name=csrfmiddlewaretoken]");
  return input ? input.value : (document.querySelector("[data-csrf]")?.dataset.csrf || "");
}

async function post(url, body) {
  const response = await fetch(url, {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken(), Accept: "application/json" },
    body: JSON.stringify(body || {}),
  });
  let data = null;
  try { data = await response.json(); } catch { data = null; }
  if (!response.ok) {
    const error = new Error(data?.error?.message || `Request failed (${response.status}).`);
    error.code = data?.error?.code;
    error.status = response.status;
    throw error;
  }
  return data;
}

function formatSeconds(total) {
  const seconds = Math.max(0, Math.floor(total));
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = String(seconds % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${s}` : `${m}:${s}`;
}

function newSessionId() {
  if (crypto.randomUUID) return crypto.randomUUID();
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");
}

// --- the ringer ------------------------------------------------------------------

function setupRinger(root) {
  const template = document.getElementById("call-ringer-item");
  const items = new Map();

  function remove(callId) {
    const item = items.get(callId);
    if (item) { item.remove(); items.delete(callId); }
  }

  onEvent("call.ringing", (event) => {
    // On the call page of that very call the page itself shows the buttons.
    if (document.getElementById("call-page")?.dataset.callId === event.call_id) return;
    if (!template || items.has(event.call_id)) return;
    const item = template.content.firstElementChild.cloneNode(true);
    item.querySelector("[data-fan]").textContent = event.fan?.name || event.fan?.username || "A fan";
    item.querySelector("[data-kind]").textContent = event.kind === "voice" ? "a voice" : "a video";
    item.querySelector("[data-rate]").textContent = String(event.rate);
    item.querySelector("[data-accept]").addEventListener("click", async (click) => {
      click.currentTarget.disabled = true;
      try {
        await post(`/api/calls/${event.call_id}/accept/`);
        location.assign(`/calls/${event.call_id}/`);
      } catch (error) {
        item.querySelector("p").textContent = error.message;
        setTimeout(() => remove(event.call_id), 4000);
      }
    });
    item.querySelector("[data-decline]").addEventListener("click", async () => {
      remove(event.call_id);
      try { await post(`/api/calls/${event.call_id}/decline/`); } catch { /* already over */ }
    });
    items.set(event.call_id, item);
    root.append(item);
    // The server marks the ring missed after expires_in_s; don't leave a dead button.
    setTimeout(() => remove(event.call_id), ((event.expires_in_s || 30) + 2) * 1000);
  });
  for (const type of ["call.accepted", "call.declined", "call.cancelled", "call.missed", "call.ended"]) {
    onEvent(type, (event) => remove(event.call_id));
  }
}

// --- the call page -------------------------------------------------------------------

class CallPage {
  constructor(root) {
    this.root = root;
    this.callId = root.dataset.callId;
    this.role = root.dataset.role;
    this.kind = root.dataset.kind;
    this.status = root.dataset.status;
    this.session = newSessionId();
    this.signals = Promise.resolve(); // handled one at a time, in arrival order
    this.peerSession = null;
    this.pc = null;
    this.pendingIce = [];
    this.localStream = null;
    this.mediaUp = false; // both parties' media connected, as this browser sees it
    this.heartbeat = null;
    this.timerBase = null; // Date.now() minus the seconds already talked
    this.activeSeconds = Number(root.dataset.activeSeconds || 0);
    this.coveredUntil = null;
    this.ended = this.status === "ended";
    this.agora = null;
    this.el = (selector) => root.querySelector(selector);
  }

  start() {
    for (const type of ["call.accepted", "call.active", "call.paused", "call.resumed", "call.low_balance", "call.ended",
      "call.declined", "call.cancelled", "call.missed", "call.signal", "call.state"]) {
      onEvent(type, (event) => { if (event.call_id === this.callId || event.call?.id === this.callId) this.on(type, event); });
    }
    onEvent("error", (event) => { if (event.code === "call_not_live" && !this.ended) this.say("This call is no longer connected."); });
    // On every (re)connect of the socket: events sent while it was down are
    // lost, so catch up from the API, and tell the server we are still here.
    onEvent("hello", () => {
      if (this.mediaUp) sendEvent({ type: "call.join", call_id: this.callId });
      this.catchUp();
    });
    this.interceptForms();
    addEventListener("pagehide", () => this.leave());
    if (["accepted", "active", "paused"].includes(this.status)) this.connectMedia();
    if (this.status === "active") this.startTimer(this.activeSeconds);
    else this.showTimer(this.activeSeconds);
    const covered = this.root.dataset.coveredSeconds;
    if (covered !== "" && covered !== undefined && this.status !== "requested") this.setCovered(Number(covered));
    setInterval(() => this.tick(), 500);
  }

  async catchUp() {
    let call;
    try {
      const response = await fetch(`/api/calls/${this.callId}/`, { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (!response.ok) return;
      call = await response.json();
    } catch { return; }
    if (call.status === this.status || this.ended) return;
    if (this.status === "requested") { location.reload(); return; } // answered (or over) while we were away
    if (call.status === "ended") this.finish(call.end_reason, call.receipt);
  }

  // Buttons are forms (they work without JS); with JS they call the API in place.
  interceptForms() {
    for (const form of this.root.querySelectorAll("form[data-action-form]")) {
      form.addEventListener("submit", async (submit) => {
        submit.preventDefault();
        const action = form.dataset.actionForm;
        form.querySelector("button").disabled = true;
        try {
          if (action === "end") { this.leave(); this.say("Hanging up…"); }
          await post(`/api/calls/${this.callId}/${action}/`);
          if (action === "accept") location.reload();
        } catch (error) {
          this.fail(error.message);
          form.querySelector("button").disabled = false;
        }
      });
    }
  }

  on(type, event) {
    switch (type) {
      case "call.accepted":
        if (this.status === "requested") location.reload(); // the page re-renders with the hang-up button
        break;
      case "call.active":
        this.status = "active";
        this.say("Connected.");
        this.startTimer(0);
        if (event.covered_seconds !== undefined) this.setCovered(event.covered_seconds);
        break;
      case "call.paused": {
        this.status = "paused";
        this.stopTimer();
        const meAbsent = (event.absent || []).includes(document.body.dataset.userId);
        this.say(meAbsent
          ? "Paused: the server has not heard from this window. Check your connection."
          : `Paused: waiting for ${this.root.dataset.peerName} to come back (up to ${event.resume_within_s || 60} s). Billing has stopped.`);
        break;
      }
      case "call.resumed":
        this.status = "active";
        this.say("Connected again.");
        this.startTimer(this.activeSeconds);
        if (event.covered_seconds !== undefined) this.setCovered(event.covered_seconds);
        break;
      case "call.low_balance": {
        const box = this.el("[data-low-balance]");
        box.querySelector("[data-seconds-left]").textContent = String(event.seconds_left);
        box.hidden = false;
        this.setCovered(event.seconds_left);
        break;
      }
      case "call.ended":
        this.finish(event.reason, event.receipt);
        break;
      case "call.declined": case "call.cancelled": case "call.missed":
        this.finish(event.reason || type.slice(5), null);
        break;
      case "call.state":
        break;
      case "call.signal":
        // setRemoteDescription is async: an ICE candidate must not overtake its offer.
        this.signals = this.signals.then(() => this.onSignal(event.data)).catch((error) => console.error("digis: signalling failed", error));
        break;
    }
  }

  // --- status, timer, covered time -----------------------------------------------

  say(text) { this.el("[data-status-text]").textContent = text; }

  fail(text) {
    const box = this.el("[data-error]");
    box.textContent = text;
    box.hidden = false;
  }

  startTimer(seconds) { this.timerBase = Date.now() - seconds * 1000; this.tick(); }

  stopTimer() {
    if (this.timerBase !== null) this.activeSeconds = (Date.now() - this.timerBase) / 1000;
    this.timerBase = null;
    this.showTimer(this.activeSeconds);
  }

  showTimer(seconds) { const t = this.el("[data-timer]"); if (t) t.textContent = formatSeconds(seconds); }

  setCovered(seconds) {
    this.coveredUntil = Date.now() + Number(seconds) * 1000;
    this.tick();
  }

  tick() {
    if (this.timerBase !== null) {
      this.activeSeconds = (Date.now() - this.timerBase) / 1000;
      this.showTimer(this.activeSeconds);
    }
    const covered = this.el("[data-covered]");
    if (covered && this.coveredUntil !== null && this.role === "fan") {
      // Time only runs out while the call is billing.
      if (this.status !== "active") this.coveredUntil += 500;
      const left = Math.max(0, (this.coveredUntil - Date.now()) / 1000);
      covered.hidden = false;
      const minutes = Math.floor(left / 60);
      covered.querySelector("[data-covered-time]").textContent =
        minutes >= 2 ? `${minutes} more minutes` : minutes === 1 ? "1 more minute" : `${Math.floor(left)} more seconds`;
    }
  }

  finish(reason, receipt) {
    if (this.ended && !receipt) return;
    this.ended = true;
    this.stopTimer();
    this.stopHeartbeat();
    this.teardownMedia();
    const words = { completed: "Call ended.", declined: "The creator declined the call.", cancelled: "The call was cancelled.",
      missed: "No answer: the call was missed.", dropped: "The call dropped and did not come back.",
      insufficient_funds: "The call ended: your balance ran out.", failed: "The call never connected." };
    this.say(words[reason] || "Call ended.");
    this.el("[data-low-balance]").hidden = true;
    this.el("[data-stage]")?.remove();
    this.el(".call-bar")?.remove();
    if (receipt) this.showReceipt(receipt);
  }

  showReceipt(receipt) {
    const labels = [["active_seconds", "Time talked"], ["rate", "Rate (tokens a minute)"], ["minutes_started", "Minutes started"],
      ["tokens_charged", "Tokens charged"], ["tokens_refunded", "Tokens refunded"], ["tokens_paid", "Tokens paid"],
      ["creator_earnings", "Creator earnings"], ["platform_fee", "Platform fee"]];
    const list = this.el("[data-receipt-rows]");
    list.replaceChildren();
    for (const [key, label] of labels) {
      if (receipt[key] === undefined) continue;
      const dt = document.createElement("dt");
      dt.textContent = label;
      const dd = document.createElement("dd");
      dd.textContent = key === "active_seconds" ? formatSeconds(receipt[key]) : String(receipt[key]);
      list.append(dt, dd);
    }
    this.el("[data-receipt]").hidden = false;
  }

  // --- presence: what billing counts ------------------------------------------------

  mediaConnected() {
    if (this.mediaUp || this.ended) return;
    this.mediaUp = true;
    sendEvent({ type: "call.join", call_id: this.callId });
    this.stopHeartbeat();
    this.heartbeat = setInterval(() => sendEvent({ type: "call.heartbeat", call_id: this.callId }), HEARTBEAT_MS);
    if (this.status === "accepted") this.say("Connected. Starting the call…");
  }

  mediaLost() {
    if (!this.mediaUp) return;
    this.mediaUp = false;
    // Stop vouching for a call we cannot hear: after 20 s of silence the
    // server pauses billing; leaving says so at once.
    this.stopHeartbeat();
    if (!this.ended) {
      sendEvent({ type: "call.leave", call_id: this.callId });
      this.say("Connection lost. Reconnecting…");
    }
  }

  stopHeartbeat() { clearInterval(this.heartbeat); this.heartbeat = null; }

  leave() {
    if (this.ended) return;
    this.stopHeartbeat();
    if (this.mediaUp) sendEvent({ type: "call.leave", call_id: this.callId });
    this.mediaUp = false;
    if (this.pc) this.signal({ kind: "bye" });
  }

  // --- media ---------------------------------------------------------------------

  async connectMedia() {
    this.say("Getting the connection ready…");
    let credentials;
    try {
      credentials = await post(`/api/calls/${this.callId}/token/`);
    } catch (error) {
      this.fail(error.message);
      return;
    }
    try {
      if (credentials.provider === "agora") await this.startAgora(credentials);
      else await this.startWebRTC(credentials);
    } catch (error) {
      console.error("digis: media failed", error);
      const denied = error && (error.name === "NotAllowedError" || error.code === "PERMISSION_DENIED");
      this.fail(denied ? "Allow the camera and microphone for this site to take the call." : `Could not start the media: ${error.message || error}`);
    }
  }

  teardownMedia() {
    if (this.pc) { this.pc.close(); this.pc = null; }
    for (const track of this.localStream?.getTracks() || []) track.stop();
    if (this.agora) {
      const { client, tracks } = this.agora;
      for (const track of tracks) { track.stop(); track.close(); }
      client.leave().catch(() => {});
      this.agora = null;
    }
  }

  // WebRTC, peer to peer ------------------------------------------------------------

  async startWebRTC(credentials) {
    this.iceServers = credentials.ice_servers || [];
    this.localStream = await navigator.mediaDevices.getUserMedia({ audio: true, video: this.kind === "video" });
    const local = this.el("[data-local]");
    if (local) local.srcObject = this.localStream;
    this.say(`Waiting for ${this.root.dataset.peerName}…`);
    this.signal({ kind: "hello" });
  }

  signal(data) {
    sendEvent({ type: "call.signal", call_id: this.callId, data: { ...data, session: this.session, to: this.peerSession } });
  }

  newPeer(peerSession) {
    if (this.pc) this.pc.close();
    this.peerSession = peerSession;
    this.pendingIce = [];
    const pc = new RTCPeerConnection({ iceServers: this.iceServers });
    for (const track of this.localStream.getTracks()) pc.addTrack(track, this.localStream);
    pc.addEventListener("track", (event) => {
      const remote = this.el("[data-remote]");
      if (remote && remote.srcObject !== event.streams[0]) remote.srcObject = event.streams[0];
    });
    pc.addEventListener("icecandidate", (event) => {
      this.signal({ kind: "ice", candidate: event.candidate ? event.candidate.toJSON() : null });
    });
    pc.addEventListener("connectionstatechange", () => {
      if (pc !== this.pc) return;
      if (pc.connectionState === "connected") this.mediaConnected();
      else if (pc.connectionState === "failed" || pc.connectionState === "closed") this.mediaLost();
      else if (pc.connectionState === "disconnected") this.mediaLost();
    });
    this.pc = pc;
    return pc;
  }

  async onSignal(data) {
    if (!data || this.ended || !this.localStream) return;
    if (data.to && data.to !== this.session) return; // meant for another window of ours
    switch (data.kind) {
      case "hello":
        if (data.session === this.peerSession) return; // already negotiating with that window
        if (this.role === "fan") {
          await this.offer(data.session);
        } else {
          this.newPeer(data.session);
          this.signal({ kind: "hello" }); // "I am here too": the fan offers next
        }
        break;
      case "offer":
        if (this.role !== "creator") return;
        if (data.session !== this.peerSession) this.newPeer(data.session);
        await this.pc.setRemoteDescription({ type: "offer", sdp: data.sdp });
        await this.pc.setLocalDescription(await this.pc.createAnswer());
        this.signal({ kind: "answer", sdp: this.pc.localDescription.sdp });
        await this.flushIce();
        break;
      case "answer":
        if (this.role !== "fan" || data.session !== this.peerSession || this.pc.signalingState !== "have-local-offer") return;
        await this.pc.setRemoteDescription({ type: "answer", sdp: data.sdp });
        await this.flushIce();
        break;
      case "ice":
        if (data.session !== this.peerSession || !this.pc || !data.candidate) return;
        if (this.pc.remoteDescription) await this.pc.addIceCandidate(data.candidate);
        else this.pendingIce.push(data.candidate);
        break;
      case "bye":
        if (data.session !== this.peerSession) return;
        if (this.pc) { this.pc.close(); this.pc = null; }
        this.peerSession = null;
        this.mediaLost();
        this.say(`${this.root.dataset.peerName} left the page. Waiting for them to come back…`);
        break;
    }
  }

  async offer(peerSession) {
    const pc = this.newPeer(peerSession);
    await pc.setLocalDescription(await pc.createOffer());
    this.signal({ kind: "offer", sdp: pc.localDescription.sdp });
  }

  async flushIce() {
    const queued = this.pendingIce;
    this.pendingIce = [];
    for (const candidate of queued) await this.pc.addIceCandidate(candidate);
  }

  // Agora ---------------------------------------------------------------------------

  async startAgora(credentials) {
    const AgoraRTC = await loadAgoraSdk(this.root.dataset.agoraSdk);
    const client = AgoraRTC.createClient({ mode: "rtc", codec: "vp8" });
    const stage = this.el("[data-stage]");
    const remoteBox = document.createElement("div");
    remoteBox.dataset.agoraRemote = "";
    const localBox = document.createElement("div");
    localBox.dataset.agoraLocal = "";
    if (this.kind === "video") {
      this.el("[data-remote]")?.remove();
      this.el("[data-local]")?.remove();
      stage.append(remoteBox, localBox);
    }
    client.on("user-published", async (user, mediaType) => {
      await client.subscribe(user, mediaType);
      if (mediaType === "video") user.videoTrack.play(remoteBox);
      if (mediaType === "audio") user.audioTrack.play();
      this.mediaConnected();
    });
    client.on("user-left", () => this.mediaLost());
    client.on("connection-state-change", (state) => { if (state === "DISCONNECTED" || state === "RECONNECTING") this.mediaLost(); });
    client.on("token-privilege-will-expire", async () => {
      // The new token's expiry follows the fan's balance, so buying tokens mid-call extends it.
      try { await client.renewToken((await post(`/api/calls/${this.callId}/token/`)).token); } catch (error) { this.fail(error.message); }
    });
    client.on("token-privilege-did-expire", () => this.mediaLost());
    await client.join(credentials.app_id, credentials.channel, credentials.token, credentials.uid);
    const tracks = this.kind === "video"
      ? await AgoraRTC.createMicrophoneAndCameraTracks()
      : [await AgoraRTC.createMicrophoneAudioTrack()];
    if (this.kind === "video") tracks[1].play(localBox);
    await client.publish(tracks);
    this.agora = { client, tracks };
    this.say(`Waiting for ${this.root.dataset.peerName}…`);
    // The other party may have published before we joined.
    if (client.remoteUsers.some((user) => user.hasAudio || user.hasVideo)) this.mediaConnected();
  }
}

function loadAgoraSdk(src) {
  if (window.AgoraRTC) return Promise.resolve(window.AgoraRTC);
  if (!src) return Promise.reject(new Error("the Agora Web SDK is not installed on this server (static/vendor/agora/AgoraRTC_N.js)"));
  return new Promise((resolve, reject) => {
    const script = document.createElement("script");
    script.src = src;
    script.addEventListener("load", () => (window.AgoraRTC ? resolve(window.AgoraRTC) : reject(new Error("the Agora SDK did not load"))));
    script.addEventListener("error", () => reject(new Error("the Agora Web SDK is not installed on this server (static/vendor/agora/AgoraRTC_N.js)")));
    document.head.append(script);
  });
}

const ringer = document.getElementById("call-ringer");
if (ringer) setupRinger(ringer);
const page = document.getElementById("call-page");
if (page) new CallPage(page).start();
