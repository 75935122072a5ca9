"use strict";
// The call's chat, and the clinician's word to the waiting room.
//
// Chat goes over the signaling socket ({"type": "chat", "body": …}); the server stores it and
// sends it to everyone in the call, the writer included ("chat"). A page that (re)loads in
// the call reads what was said so far from GET /v1/visit-session/messages. The clinician
// writes to the waiting room with POST /v1/visit-session/messages; those waiting get it at
// once over their socket ("waiting-message") and with every session refresh.
(function () {
  const room = window.visitRoom;
  if (!room) return;
  const $ = (id) => document.getElementById(id);
  const MAX_CHARS = 2000;
  const shown = new Set();
  let historyAsked = false;
  let awaitingEcho = false;
  let waitingShown = null;
  let over = false;

  const clock = (iso) => window.localTime(iso, "clock");

  function setStatus(text) { $("chat-status").textContent = text; }

  // --- the call's chat ----------------------------------------------------------------------

  function addMessage(m) {
    if (shown.has(m.id)) return;
    shown.add(m.id);
    const mine = m.from === room.state.me;
    const item = document.createElement("li");
    item.className = mine ? "chat-message mine" : "chat-message";
    item.dataset.sentAt = m.sent_at;
    const meta = document.createElement("p");
    meta.className = "chat-meta";
    const who = document.createElement("strong");
    who.textContent = mine ? "You" : m.display_name;
    const time = document.createElement("time");
    time.dateTime = m.sent_at;
    time.textContent = clock(m.sent_at);
    meta.append(who, " · ", time);
    const body = document.createElement("p");
    body.className = "chat-body";
    body.textContent = m.body;
    item.append(meta, body);
    // The history and live messages may arrive in either order: keep the list in time order.
    const list = $("chat-list");
    const at = Date.parse(m.sent_at);
    const later = [...list.children].find((child) => Date.parse(child.dataset.sentAt) > at);
    list.insertBefore(item, later || null);
    list.scrollTop = list.scrollHeight;
  }

  async function loadHistory() {
    if (historyAsked) return;
    historyAsked = true;
    try {
      for (const m of await room.api("GET", "/v1/visit-session/messages")) addMessage(m);
    } catch (error) {
      historyAsked = false;
    }
  }

  function inCall() {
    if (over) return;
    $("step-chat").hidden = false;
    loadHistory();
  }

  async function sendChat(event) {
    event.preventDefault();
    const input = $("chat-input");
    const text = input.value.trim();
    if (!text) return;
    if (text.length > MAX_CHARS) { setStatus(`A message holds at most ${MAX_CHARS} characters.`); return; }
    setStatus("");
    const socket = room.state.socket;
    if (socket && socket.readyState === WebSocket.OPEN) {
      awaitingEcho = true;
      room.send({ type: "chat", body: text });
      input.value = "";
      return;
    }
    try {
      addMessage(await room.api("POST", "/v1/visit-session/messages", { audience: "call", body: text }));
      input.value = "";
    } catch (error) { setStatus(error.message); }
  }

  function sendOnEnter(event) {
    // Enter sends, Shift+Enter starts a new line.
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      $("chat-form").requestSubmit();
      event.preventDefault();
    }
  }

  // --- the waiting room ---------------------------------------------------------------------

  function showWaitingMessage(m) {
    const s = room.state.session;
    if (!m || !s || s.role === "clinician" || s.state === "admitted" || over) return;
    if (waitingShown === m.sent_at) return;  // unchanged: no second announcement
    waitingShown = m.sent_at;
    $("waiting-message-text").textContent = m.body;
    $("waiting-message-time").dateTime = m.sent_at;
    $("waiting-message-time").textContent = `(${clock(m.sent_at)})`;
    $("step-waiting-message").hidden = false;
  }

  async function postWaiting(text) {
    const body = text.trim();
    if (!body) return;
    try {
      const m = await room.api("POST", "/v1/visit-session/messages", { audience: "waiting", body });
      $("host-message-status").textContent = `Sent to the waiting room at ${clock(m.sent_at)}: “${m.body}”`;
      $("host-message-input").value = "";
    } catch (error) { $("host-message-status").textContent = error.message; }
  }

  function onSession(s) {
    const open = s.status === "booked" || s.status === "in_progress";
    const host = s.role === "clinician";
    $("step-host-message").hidden = !(host && open && !over);
    if (host && s.waiting_message && !$("host-message-status").textContent) {
      const m = s.waiting_message;
      $("host-message-status").textContent = `Your latest message to the waiting room (${clock(m.sent_at)}): “${m.body}”`;
    }
    if (s.state === "admitted" && open) {
      $("step-waiting-message").hidden = true;
      inCall();
    } else {
      showWaitingMessage(s.waiting_message);
    }
  }

  function wire() {
    $("chat-form").addEventListener("submit", sendChat);
    $("chat-input").addEventListener("keydown", sendOnEnter);
    for (const quick of document.querySelectorAll(".quick-message")) {
      quick.addEventListener("click", () => postWaiting(quick.dataset.message));
    }
    $("host-message-form").addEventListener("submit", (event) => {
      event.preventDefault();
      postWaiting($("host-message-input").value);
    });
    room.on("session", onSession);
    room.on("admitted", inCall);
    room.on("chat", (m) => {
      if (m.from === room.state.me) awaitingEcho = false;
      addMessage(m);
    });
    room.on("waiting-message", showWaitingMessage);
    room.on("error", (m) => {
      if (awaitingEcho && (m.code === "invalid_input" || m.code === "invalid_state")) {
        awaitingEcho = false;
        setStatus(m.detail || "The message was not sent.");
      }
    });
    room.on("hangup", () => {
      over = true;
      $("chat-input").disabled = true;
      $("chat-send").disabled = true;
      $("step-host-message").hidden = true;
      $("step-waiting-message").hidden = true;
    });
  }

  wire();
})();
