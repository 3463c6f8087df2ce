// The live room: video, live chat with moderation, tips, the goal bar, the viewer count.
//
// POST /api/streams/{id}/join/ gives the media credentials (and buys nothing:
// the ticket, if any, was bought before this page showed the room). The page
// then enters the room over its /ws/ socket (`live.join`) and keeps a
// heartbeat; room events (`live.chat`, `live.tip`, `live.viewers`, ...) come
// back on the same socket.
// Media:
// - "agora": the Agora Web SDK in live mode (host = broadcaster, viewers =
//   audience), served from /static/vendor/agora/AgoraRTC_N.js (no CDN).
// - "webrtc": the host's browser sends its camera to each seated viewer over
//   its own RTCPeerConnection; offers, answers and ICE travel as `live.signal`
//   over /ws/. The viewer says hello (every 10 s until connected); the host offers.
import { onEvent, sendEvent } from "/static/js/realtime.js";

const root = document.getElementById("live-room");
const streamId = root.dataset.streamId;
const role = root.dataset.role; // host | moderator | viewer
const canModerate = root.dataset.canModerate === "1";
const hostId = root.dataset.hostId;
const me = document.body.dataset.userId;
const el = (selector) => root.querySelector(selector);
const session = crypto.randomUUID ? crypto.randomUUID() : String(Math.random()).slice(2);
let heartbeat = null;
let ended = false;
let media = null;

// --- helpers -------------------------------------------------------------------------

function csrfToken() {
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  if (match) return decodeURIComponent(match[1]);
  return document.querySelector("input[name=csrfmiddlewaretoken]")?.value || "";
}

async function api(method, url, body) {
  const response = await fetch(url, {
    method, credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken(), Accept: "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  let data = null;
  try { data = response.status === 204 ? null : await response.json(); } catch { data = null; }
  if (!response.ok) {
    const error = new Error(data?.error?.message || `Request failed (${response.status}).`);
    error.code = data?.error?.code;
    throw error;
  }
  return data;
}

const newKey = () => (crypto.randomUUID ? crypto.randomUUID() : `${Date.now()}-${Math.random()}`).replace(/[^A-Za-z0-9_.:-]/g, "");
const say = (text) => { el("[data-status]").textContent = text; };
const stageNote = (text) => { el("[data-stage-note]").textContent = text; };
function chatError(text) {
  const box = el("[data-chat-error]");
  box.textContent = text;
  box.hidden = !text;
}

// --- chat ------------------------------------------------------------------------------

const list = el("[data-chat]");

function addMessage(message) {
  if (list.querySelector(`[data-message-id="${message.id}"]`)) return; // arrived twice (join + room event)
  const item = document.createElement("li");
  item.dataset.messageId = message.id;
  item.dataset.authorId = message.author.id;
  const name = document.createElement("strong");
  name.textContent = message.author.name;
  const text = document.createElement("span");
  text.textContent = ` ${message.text}`;
  item.append(name, text);
  if (canModerate && message.author.id !== me && message.author.id !== hostId) item.append(modButtons(message));
  const atBottom = list.scrollTop + list.clientHeight >= list.scrollHeight - 20;
  list.append(item);
  while (list.children.length > 200) list.firstElementChild.remove();
  if (atBottom) list.scrollTop = list.scrollHeight;
}

function addLine(text, className) {
  const item = document.createElement("li");
  item.className = className;
  item.textContent = text;
  list.append(item);
  list.scrollTop = list.scrollHeight;
}

function removeMessages(ids) {
  for (const id of ids || []) list.querySelector(`[data-message-id="${id}"]`)?.remove();
}

function modButtons(message) {
  const box = document.createElement("span");
  box.className = "live-mod-actions";
  const actions = [
    ["Delete", () => api("DELETE", `/api/streams/${streamId}/chat/${message.id}/`)],
    ["Time out", () => api("POST", `/api/streams/${streamId}/timeouts/`, { user: message.author.id, seconds: 600, reason: "Timed out from the chat" })],
    ["Ban", () => confirm(`Ban ${message.author.name} from all your streams?`)
      && api("POST", `/api/streams/${streamId}/bans/`, { user: message.author.id, reason: "Banned from the chat" })],
  ];
  for (const [label, action] of actions) {
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = label;
    button.addEventListener("click", async () => {
      try { await action(); } catch (error) { chatError(error.message); }
    });
    box.append(button);
  }
  return box;
}

function showRules(chat) {
  const parts = [];
  if (chat.slow_mode_s) parts.push(`Slow mode: ${chat.slow_mode_s} s.`);
  if (chat.followers_only) parts.push(chat.followers_min_minutes ? `Followers only (following ${chat.followers_min_minutes} min).` : "Followers only.");
  el("[data-chat-rules]").textContent = parts.join(" ");
}

// --- figures ------------------------------------------------------------------------------

function setViewers(count) { el("[data-viewers]").textContent = String(count); }

function setGoal(goal) {
  const box = el("[data-goal]");
  if (!goal) { box.hidden = true; return; }
  box.hidden = false;
  el("[data-goal-title]").textContent = goal.title;
  el("[data-goal-raised]").textContent = String(goal.raised);
  el("[data-goal-target]").textContent = String(goal.target);
  const bar = el("[data-goal-bar]");
  bar.max = goal.target;
  bar.value = Math.min(goal.raised, goal.target);
}

function tipAlert(tip) {
  const text = `${tip.tipper.name} tipped ${tip.amount} token${tip.amount === 1 ? "" : "s"}${tip.message ? `: ${tip.message}` : "!"}`;
  const item = document.createElement("li");
  item.textContent = text;
  el("[data-alerts]").prepend(item);
  setTimeout(() => item.remove(), 10000);
  addLine(text, "is-tip");
}

// --- room events ------------------------------------------------------------------------------

const mine = (event) => event.stream_id === streamId || event.stream?.id === streamId;

onEvent("live.joined", (event) => {
  if (!mine(event)) return;
  for (const message of event.chat) addMessage(message);
  setViewers(event.stream.viewers);
  setGoal(event.stream.goal);
  showRules(event.stream.chat);
  if (event.standing?.timed_out_until) chatError(`You are timed out until ${new Date(event.standing.timed_out_until).toLocaleTimeString()}.`);
  clearInterval(heartbeat);
  heartbeat = setInterval(() => sendEvent({ type: "live.heartbeat", stream_id: streamId }), (event.heartbeat_s || 15) * 1000);
});
onEvent("live.chat", (event) => { if (mine(event)) addMessage(event.message); });
onEvent("live.chat_sent", () => { el("[data-chat-form] input[name=text]").value = ""; chatError(""); });
onEvent("live.chat_deleted", (event) => { if (mine(event)) removeMessages(event.message_ids); });
onEvent("live.moderation", (event) => {
  if (!mine(event)) return;
  removeMessages(event.message_ids);
  if (canModerate) addLine(`${event.action === "ban" ? "Banned" : "Timed out"} a viewer.`, "muted");
});
onEvent("live.restricted", (event) => {
  if (!mine(event)) return;
  chatError(event.kind === "timeout" ? `You are timed out until ${new Date(event.until).toLocaleTimeString()}.` : "You are banned from this creator's streams.");
});
onEvent("live.tip", (event) => { if (mine(event)) { tipAlert(event.tip); setGoal(event.goal); } });
onEvent("live.goal", (event) => { if (mine(event)) setGoal(event.goal); });
onEvent("live.viewers", (event) => { if (mine(event)) setViewers(event.count); });
onEvent("live.settings", (event) => { if (mine(event)) showRules(event.chat); });
onEvent("live.state", (event) => {
  if (!mine(event)) return;
  setViewers(event.viewers);
  if (event.status === "ended") finish("The stream has ended.");
});
onEvent("live.ended", (event) => {
  if (!mine(event)) return;
  const refunded = event.tickets_refunded ? " It ended early, so every ticket is refunded." : "";
  finish((event.reason === "host_gone" ? "The stream ended: the host left." : "The stream has ended.") + refunded);
  if (role === "host") setTimeout(() => location.reload(), 1500); // the page shows the summary
});
onEvent("live.banned", (event) => { if (mine(event)) finish(event.message); });
onEvent("error", (event) => {
  const chatCodes = ["slow_mode", "timed_out", "followers_only_chat", "chat_rate_limited", "banned_from_channel", "invalid_text", "blocked"];
  if (chatCodes.includes(event.code)) chatError(event.message);
  else if (event.code === "stream_not_live") finish("The stream has ended.");
});
// After the socket reconnects, room events sent meanwhile are lost: enter again (the reply carries the recent chat).
onEvent("hello", () => { if (!ended) sendEvent({ type: "live.join", stream_id: streamId }); });

function finish(text) {
  if (ended) { say(text); return; }
  ended = true;
  clearInterval(heartbeat);
  say(text);
  stopMedia();
  for (const form of root.querySelectorAll("form")) for (const control of form.elements) control.disabled = true;
}

// --- forms ------------------------------------------------------------------------------

el("[data-chat-form]")?.addEventListener("submit", (submit) => {
  submit.preventDefault();
  const input = submit.currentTarget.querySelector("input[name=text]");
  const text = input.value.trim();
  if (!text) return;
  sendEvent({ type: "live.chat", stream_id: streamId, text, client_key: newKey() });
});

el("[data-tip-form]")?.addEventListener("submit", async (submit) => {
  submit.preventDefault();
  const form = submit.currentTarget;
  const button = form.querySelector("button[type=submit]");
  const body = { amount: Number(form.elements.amount.value), message: form.elements.message.value, client_key: newKey() };
  button.disabled = true;
  try {
    // One key per tip: if the network drops the answer, sending again never charges twice.
    let result;
    try { result = await api("POST", `/api/streams/${streamId}/tips/`, body); }
    catch (error) { if (error.code) throw error; result = await api("POST", `/api/streams/${streamId}/tips/`, body); }
    say(`You tipped ${result.tip.amount} tokens.`);
    form.elements.message.value = "";
  } catch (error) {
    say(error.code === "insufficient_funds" ? "You need more tokens for this tip. Buy some in your wallet." : error.message);
  } finally {
    button.disabled = false;
  }
});

const goalForm = el("[data-goal-form]");
if (goalForm) {
  goalForm.hidden = false;
  goalForm.addEventListener("submit", async (submit) => {
    submit.preventDefault();
    try {
      await api("PUT", `/api/streams/${streamId}/goal/`, { title: goalForm.elements.title.value, target: Number(goalForm.elements.target.value) });
      say("Goal updated.");
    } catch (error) { say(error.message); }
  });
}

el("[data-settings-form]")?.addEventListener("submit", async (submit) => {
  submit.preventDefault();
  const form = submit.currentTarget;
  try {
    await api("PATCH", `/api/streams/${streamId}/chat/settings/`, {
      slow_mode_s: Number(form.elements.slow_mode_s.value), followers_only: form.elements.followers_only.checked,
      followers_min_minutes: Number(form.elements.followers_min_minutes.value || 0),
    });
    say("Chat settings applied.");
  } catch (error) { say(error.message); }
});

// --- media: peer to peer ---------------------------------------------------------------------

const peers = new Map(); // host: viewer session -> {pc, viewer}
let viewerPc = null;
let localStream = null;
let helloTimer = null;
let iceServers = [];

function signal(to, data) {
  sendEvent({ type: "live.signal", stream_id: streamId, to, data: { ...data, session } });
}

async function hostWebRTC(credentials) {
  iceServers = credentials.ice_servers || [];
  localStream = await navigator.mediaDevices.getUserMedia({ audio: true, video: true });
  el("[data-video]").srcObject = localStream;
  stageNote("");
  say(`You are live. Without a media server your browser sends the video to each viewer (at most ${credentials.max_viewers}).`);
}

async function onHostSignal(from, data) {
  if (!localStream) return;
  if (data.kind === "hello") {
    peers.get(data.session)?.pc.close();
    const pc = new RTCPeerConnection({ iceServers });
    peers.set(data.session, { pc, viewer: from });
    for (const track of localStream.getTracks()) pc.addTrack(track, localStream);
    pc.addEventListener("icecandidate", (e) => signal(from, { kind: "ice", to: data.session, candidate: e.candidate ? e.candidate.toJSON() : null }));
    pc.addEventListener("connectionstatechange", () => {
      if (["failed", "closed"].includes(pc.connectionState)) { pc.close(); peers.delete(data.session); }
    });
    await pc.setLocalDescription(await pc.createOffer());
    signal(from, { kind: "offer", to: data.session, sdp: pc.localDescription.sdp });
    return;
  }
  const peer = peers.get(data.session);
  if (!peer) return;
  if (data.kind === "answer") await peer.pc.setRemoteDescription({ type: "answer", sdp: data.sdp });
  else if (data.kind === "ice" && data.candidate) await peer.pc.addIceCandidate(data.candidate);
  else if (data.kind === "bye") { peer.pc.close(); peers.delete(data.session); }
}

function viewerWebRTC(credentials) {
  iceServers = credentials.ice_servers || [];
  const hello = () => { if (!viewerPc || viewerPc.connectionState !== "connected") signal(hostId, { kind: "hello" }); };
  hello();
  helloTimer = setInterval(hello, 10000);
}

async function onViewerSignal(data) {
  if (data.to && data.to !== session) return;
  if (data.kind === "offer") {
    viewerPc?.close();
    const pc = new RTCPeerConnection({ iceServers });
    viewerPc = pc;
    pc.addEventListener("track", (e) => { el("[data-video]").srcObject = e.streams[0]; stageNote(""); });
    pc.addEventListener("icecandidate", (e) => signal(hostId, { kind: "ice", candidate: e.candidate ? e.candidate.toJSON() : null }));
    pc.addEventListener("connectionstatechange", () => {
      if (pc.connectionState === "connected") stageNote("");
      if (pc.connectionState === "failed") stageNote("The video connection failed. Retrying…");
    });
    await pc.setRemoteDescription({ type: "offer", sdp: data.sdp });
    await pc.setLocalDescription(await pc.createAnswer());
    signal(hostId, { kind: "answer", sdp: pc.localDescription.sdp });
  } else if (data.kind === "ice" && data.candidate && viewerPc) {
    await viewerPc.addIceCandidate(data.candidate);
  }
}

let signals = Promise.resolve(); // one at a time: a candidate must not overtake its offer
onEvent("live.signal", (event) => {
  if (!mine(event)) return;
  signals = signals.then(() => (role === "host" ? onHostSignal(event.from, event.data) : onViewerSignal(event.data)))
    .catch((error) => console.error("digis: live signalling failed", error));
});

// --- media: Agora ------------------------------------------------------------------------------

function loadAgoraSdk(src) {
  if (window.AgoraRTC) return Promise.resolve(window.AgoraRTC);
  return new Promise((resolve, reject) => {
    const script = document.createElement("script");
    script.src = src;
    script.addEventListener("load", () => (window.AgoraRTC ? resolve(window.AgoraRTC) : reject(new Error("the Agora SDK did not load"))));
    script.addEventListener("error", () => reject(new Error("the Agora Web SDK is not installed on this server")));
    document.head.append(script);
  });
}

async function startAgora(credentials) {
  const AgoraRTC = await loadAgoraSdk(root.dataset.agoraSdk);
  const client = AgoraRTC.createClient({ mode: "live", codec: "vp8" });
  await client.setClientRole(credentials.role === "host" ? "host" : "audience");
  const box = document.createElement("div");
  box.dataset.agoraVideo = "";
  el("[data-video]").replaceWith(box);
  client.on("user-published", async (user, mediaType) => {
    await client.subscribe(user, mediaType);
    if (mediaType === "video") { user.videoTrack.play(box); stageNote(""); }
    if (mediaType === "audio") user.audioTrack.play();
  });
  client.on("token-privilege-will-expire", async () => {
    try { await client.renewToken((await api("POST", `/api/streams/${streamId}/join/`)).media.token); } catch (error) { say(error.message); }
  });
  await client.join(credentials.app_id, credentials.channel, credentials.token, credentials.uid);
  const tracks = [];
  if (credentials.role === "host") {
    tracks.push(...await AgoraRTC.createMicrophoneAndCameraTracks());
    tracks[1].play(box);
    await client.publish(tracks);
    stageNote("");
  }
  media = { client, tracks };
}

function stopMedia() {
  clearInterval(helloTimer);
  for (const { pc } of peers.values()) pc.close();
  peers.clear();
  if (viewerPc) { signal(hostId, { kind: "bye" }); viewerPc.close(); viewerPc = null; }
  for (const track of localStream?.getTracks() || []) track.stop();
  if (media) {
    for (const track of media.tracks) { track.stop(); track.close(); }
    media.client.leave().catch(() => {});
    media = null;
  }
}

// --- start ----------------------------------------------------------------------------------------

async function start() {
  sendEvent({ type: "live.join", stream_id: streamId });
  let credentials;
  try {
    credentials = (await api("POST", `/api/streams/${streamId}/join/`)).media;
  } catch (error) {
    // room_full says plainly why (the host's own connection serves only a few viewers).
    stageNote(error.message);
    return;
  }
  try {
    if (credentials.provider === "agora") await startAgora(credentials);
    else if (role === "host") await hostWebRTC(credentials);
    else viewerWebRTC(credentials);
  } catch (error) {
    const denied = error && (error.name === "NotAllowedError" || error.code === "PERMISSION_DENIED");
    stageNote(denied ? "Allow the camera and microphone for this site to go live." : `The video could not start: ${error.message || error}`);
  }
}

addEventListener("pagehide", () => {
  if (!ended) sendEvent({ type: "live.leave", stream_id: streamId });
  stopMedia();
});
start();
