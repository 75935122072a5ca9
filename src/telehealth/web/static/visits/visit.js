"use strict";
// The visit room: location, consent, pre-call check, waiting room, peer-to-peer WebRTC call,
// media statistics for the session record, and (for the clinician) admission and the note.
//
// The join token comes from the link's fragment and is kept in the tab's session storage, so
// that a reload rejoins the call: it goes to the server in the X-Visit-Token header and in the
// signaling socket's first message, never in a URL that could be logged or in a cookie. Leaving,
// removal and the end of the visit forget it.
(function () {
  const STATES = ("AL AK AZ AR CA CO CT DE DC FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO " +
    "MT NE NV NH NJ NM NY NC ND OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY").split(" ");
  const STATS_EVERY_MS = 2000;
  const POLL_EVERY_MS = 2000;
  // Scoped to the room page; session storage lasts as long as the tab.
  const TOKEN_KEY = `telehealth.visit:${window.location.pathname}:token`;
  const CAMERA_OFF_KEY = `telehealth.visit:${window.location.pathname}:camera-off`;
  const IN_CALL_KEY = `telehealth.visit:${window.location.pathname}:in-call`;
  const RECONNECT_MS = [250, 500, 1000, 2000, 4000];
  const ICE_RESTART_AFTER_MS = 2000;
  const REBUILD_AFTER_MS = 8000;
  const AWAY_TILE_MS = 30000;
  // Socket close codes after which the visit is over for this participant: no reconnect. Any
  // other code reconnects, 1012 included: a server shutting down closes its sockets with it,
  // and the load balancer sends the new socket to another instance (docs/operations.md).
  const TERMINAL = {
    4403: "You were removed from the visit.",
    4000: "The visit has ended.",
    4401: "The visit has ended.",
    4409: "This visit was opened in another window.",
  };

  const $ = (id) => document.getElementById(id);
  const state = {
    token: null, me: null, session: null, socket: null, local: null, peers: new Map(), away: new Map(),
    attempts: 0, retryTimer: null, mediaReady: null, rejoin: false,
    iceServers: [], iceTransportPolicy: "all", videoOff: false, admittedAt: null,
    firstFrameAt: null, admitClickedAt: null,
    framesDecoded: 0, framesSent: 0, pollTimer: null, statsTimer: null, ended: false,
    // trace: a timeline of signaling and media events (diagnostics and the first-frame bench).
    inbox: Promise.resolve(), trace: [],
  };
  window.__visit = state;

  // The room's other scripts (controls, chat, devices) listen here: every signaling message by
  // its type, plus "session" (each refresh), "admitted", "peer" (a new peer connection) and
  // "hangup".
  const listeners = new Map();
  function on(type, fn) {
    if (!listeners.has(type)) listeners.set(type, []);
    listeners.get(type).push(fn);
  }
  function emit(type, detail) {
    for (const fn of listeners.get(type) || []) {
      try { fn(detail); } catch (error) { state.trace.push([`listener-error-${type}`, Date.now()]); }
    }
  }

  function readToken() {
    const hash = new URLSearchParams(window.location.hash.slice(1));
    const token = hash.get("token");
    // Drop the token from the address bar and history.
    history.replaceState(null, "", window.location.pathname);
    if (token) {
      // Another link opened in this tab: what was kept belongs to the other one.
      if (token !== sessionStorage.getItem(TOKEN_KEY)) forget();
      sessionStorage.setItem(TOKEN_KEY, token);
      return token;
    }
    return sessionStorage.getItem(TOKEN_KEY);
  }

  function forget() {
    sessionStorage.removeItem(TOKEN_KEY);
    sessionStorage.removeItem(CAMERA_OFF_KEY);
    sessionStorage.removeItem(IN_CALL_KEY);
  }

  function show(id, visible) { $(id).hidden = !visible; }
  function say(text) { $("status").textContent = text; }
  function fail(text) { $("error").textContent = text; }

  async function api(method, path, body) {
    const init = { method, headers: { "X-Visit-Token": state.token }, credentials: "omit" };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const response = await fetch(path, init);
    const text = await response.text();
    const data = text ? JSON.parse(text) : null;
    if (!response.ok) {
      const error = new Error((data && data.detail) || `request failed (${response.status})`);
      error.status = response.status;
      throw error;
    }
    return data;
  }

  // --- steps ------------------------------------------------------------------------------

  async function refresh() {
    const session = await api("GET", "/v1/visit-session");
    state.session = session;
    state.me = session.participant_id;
    render(session);
    emit("session", session);
    return session;
  }

  function render(s) {
    // A refresh answered after hanging up must not bring the room back.
    if (state.ended) return;
    const host = s.role === "clinician";
    $("room").dataset.state = s.state;
    $("room").dataset.role = s.role;
    $("room").dataset.visit = s.visit_id;
    if (s.status === "completed" || s.status === "cancelled") {
      say("This visit has ended.");
      return;
    }
    say(`Visit at ${window.localTime(s.slot_start, "datetime")} · planned as ${label(s.planned_modality)}` +
      (s.fallback_reason ? ` (${s.fallback_reason})` : ""));
    const patient = s.role === "patient";
    show("step-location", patient && s.state !== "admitted");
    const toSign = s.consent_signature_due || [];
    show("step-consent", patient && !s.confirmed_state ? false : patient && (s.consent_outstanding.length > 0 || toSign.length > 0));
    if (patient) showConsentNeeds(s.consent_outstanding, toSign);
    show("step-precall", s.state !== "admitted");
    show("step-waiting", !host && s.state !== "admitted");
    if (s.state === "waiting") {
      $("queue").textContent = s.queue_position
        ? `You are number ${s.queue_position} in the waiting room. ${s.clinician_name || "The clinician"} will let you in.`
        : "You are in the waiting room.";
      $("enter-waiting").hidden = true;
    }
    if (host) renderHost(s);
    show("step-call", s.state === "admitted");
    show("step-note", host);
    if (host && s.note && !$("note-body").dataset.loaded) {
      $("note-body").value = s.note.body;
      $("note-body").dataset.version = s.note.version;
      $("note-body").dataset.loaded = "1";
    }
    if ((s.state === "admitted" || s.state === "waiting") && !state.socket) join();
  }

  function label(modality) {
    return modality === "sync_audio_video" ? "video" : modality === "sync_audio_only" ? "audio only" : modality;
  }

  const ROLES = {
    patient: "Patient", clinician: "Clinician", interpreter: "Interpreter",
    caregiver: "Caregiver or family", second_clinician: "Second clinician",
  };
  const PRESENCE = { invited: "Not here yet", waiting: "Waiting", admitted: "In the call", removed: "Removed" };

  function renderHost(s) {
    show("step-host", true);
    // Admitting needs the clinician in the call: their media on and their socket welcomed.
    const inRoom = s.state === "admitted" && state.admittedAt !== null;
    $("open-room").hidden = s.state === "admitted";
    $("host-hint").textContent = s.state !== "admitted"
      ? "Open your room to start the visit: your camera and microphone turn on first, then you can let people in."
      : inRoom ? "Your room is open." : "Connecting your room…";
    const body = $("waiting-list");
    body.replaceChildren();
    for (const p of s.waiting_room || []) {
      const row = document.createElement("tr");
      const intake = p.intake;
      const bits = [
        intake.location_confirmed ? "location confirmed" : "location not confirmed yet",
        intake.consent_complete === false ? "consent needed" : intake.consent_complete ? "consent on file" : "",
        intake.precall_done
          ? (intake.video_feasible ? "pre-call check passed" : "pre-call check: video not possible")
          : "no pre-call check yet",
      ].filter(Boolean);
      const cells = [
        ["Name", p.name], ["Role", ROLES[p.role] || p.role], ["Age", p.age === null ? "" : `${p.age}`],
        ["Sex", p.sex || ""], ["Record number", p.record_number || ""],
        ["Where they are", intake.location_state || "not confirmed yet"],
        ["Status", PRESENCE[p.state] || p.state], ["Intake", bits.join(", ")],
      ];
      for (const [heading, text] of cells) {
        const cell = document.createElement("td");
        cell.dataset.label = heading;
        cell.textContent = text;
        row.appendChild(cell);
      }
      const actions = document.createElement("td");
      if (p.state === "waiting") {
        const admitButton = button("Admit", `admit-${p.id}`, "admit", () => admit(p.id));
        admitButton.disabled = !inRoom;
        actions.appendChild(admitButton);
      }
      if (p.state !== "removed") actions.appendChild(button("Remove", `remove-${p.id}`, "remove", () => removeParticipant(p.id)));
      row.appendChild(actions);
      body.appendChild(row);
    }
    const outstanding = s.consent_outstanding || [];
    const due = (s.consent_signature_due || []).map((r) =>
      ` Signed statement due by ${window.localTime(r.signature_due, "datetime")}: ${r.detail}`).join("");
    $("host-consent").textContent = (outstanding.length
      ? `Consent needed: ${outstanding.map((r) => `${r.detail} (${r.reason_text})`).join(" ")}`
      : (s.consents.length ? `Consent on file (${s.consents.map((c) => `${c.method}, ${c.located_state}`).join("; ")})` : "No consent required.")) + due;
    // Verbal consent is offered only where every outstanding rule accepts it.
    $("record-verbal-consent").hidden = outstanding.length === 0 || outstanding.some((r) => !r.verbal_accepted);
    $("end-visit").hidden = false;
  }

  function button(text, id, cls, onClick) {
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = text;
    b.id = id;
    b.className = cls;
    b.addEventListener("click", onClick);
    return b;
  }

  async function confirmLocation() {
    try {
      const result = await api("POST", "/v1/visit-session/location", { state: $("location-state").value });
      $("location-result").textContent = result.proceed
        ? (result.state_changed ? "Thanks — the visit was re-checked for where you are now." : "Thanks.")
        : `This visit cannot go ahead where you are now${result.reason ? ": " + result.reason : ""}.`;
      await refresh();
    } catch (error) { fail(error.message); }
  }

  // The patient's words for what is needed, once each; no rule text.
  function showConsentNeeds(outstanding, toSign) {
    const list = $("consent-requirements");
    // Where a signed consent is wanted, asking for "consent" as well would say it twice.
    const strict = outstanding.filter((r) => !r.verbal_accepted);
    const lines = new Set((strict.length ? strict : outstanding).map((r) => r.plain));
    for (const r of toSign) lines.add(`${r.plain} ${window.localTime(r.signature_due, "datetime")}.`);
    list.replaceChildren(...[...lines].map((text) => {
      const item = document.createElement("li");
      item.textContent = text;
      return item;
    }));
  }

  async function giveConsent(method) {
    if (method === "written" && !$("consent-agree").checked) { fail("Tick the box to agree."); return; }
    try {
      await api("POST", "/v1/visit-session/consent", { method, given_by: "patient", acknowledged: true });
      await refresh();
    } catch (error) { fail(error.message); }
  }

  // --- pre-call check ---------------------------------------------------------------------
  // devices.js opens the chosen camera and microphone (window.visitRoom.devices.open), sets
  // state.local and the preview; this file measures the connection and reports the check.

  async function timed(fn) {
    const start = performance.now();
    await fn();
    return performance.now() - start;
  }

  async function connectionTest() {
    // A ping burst gives round-trip time and loss; timed transfers give throughput each way.
    const rtts = [];
    let lost = 0;
    for (let i = 0; i < 10; i++) {
      try {
        const controller = new AbortController();
        const timer = setTimeout(() => controller.abort(), 2000);
        const ms = await timed(() => fetch("/v1/visit-session/probe?size=0", {
          headers: { "X-Visit-Token": state.token }, signal: controller.signal, cache: "no-store",
        }).then((r) => r.arrayBuffer()));
        clearTimeout(timer);
        rtts.push(ms);
      } catch (error) { lost += 1; }
    }
    const size = 1024 * 1024;
    const downMs = await timed(() => fetch(`/v1/visit-session/probe?size=${size}`, {
      headers: { "X-Visit-Token": state.token }, cache: "no-store",
    }).then((r) => r.arrayBuffer()));
    const payload = new Uint8Array(size);
    crypto.getRandomValues(payload.subarray(0, 65536));
    const upMs = await timed(() => fetch("/v1/visit-session/probe", {
      method: "POST", headers: { "X-Visit-Token": state.token, "Content-Type": "application/octet-stream" },
      body: payload,
    }).then((r) => r.json()));
    const mbps = (ms) => Math.round((size * 8) / (Math.max(ms, 1) / 1000) / 1e4) / 100;
    rtts.sort((a, b) => a - b);
    return {
      down_mbps: mbps(downMs), up_mbps: mbps(upMs),
      rtt_ms: rtts.length ? Math.round(rtts[Math.floor(rtts.length / 2)]) : 2000,
      loss_pct: Math.round((lost / 10) * 100),
    };
  }

  async function runPrecall() {
    $("precall-results").replaceChildren();
    delete $("precall-results").dataset.done;
    const stream = await window.visitRoom.devices.open(true);
    const cameraOk = !!stream && stream.getVideoTracks().some((t) => t.readyState === "live");
    const micOk = !!stream && stream.getAudioTracks().some((t) => t.readyState === "live");
    const link = await connectionTest();
    addResult(`Camera: ${cameraOk ? "working" : "not available"}`);
    addResult(`Microphone: ${micOk ? "working" : "not available"}`);
    addResult(`Connection: ${link.down_mbps} Mbps down, ${link.up_mbps} Mbps up, ${link.rtt_ms} ms, ${link.loss_pct}% loss`);
    try {
      const result = await api("POST", "/v1/visit-session/precall", {
        camera_ok: cameraOk, microphone_ok: micOk, ...link,
      });
      $("precall-results").dataset.done = "1";
      $("precall-run").textContent = "Run the check again";
      $("precall-offer").hidden = result.video_feasible;
      if (!result.video_feasible) {
        $("precall-reason").textContent = result.reason || "Video does not look feasible right now.";
      }
      await refresh();
    } catch (error) { fail(error.message); }
  }

  function addResult(text) {
    const item = document.createElement("li");
    item.textContent = text;
    $("precall-results").appendChild(item);
  }

  async function enterWaiting() {
    try {
      if (!state.local) await window.visitRoom.devices.open(!state.videoOff);
      await api("POST", "/v1/visit-session/waiting");
      await refresh();
      connect();
    } catch (error) { fail(error.message); }
  }

  // --- host actions -----------------------------------------------------------------------

  async function openRoom() {
    // The clinician's camera and microphone go on before anyone can be let in.
    const stream = state.local || await window.visitRoom.devices.open(!state.videoOff);
    if (!stream || !stream.getAudioTracks().some((t) => t.readyState === "live")) {
      fail("Your microphone is not on. Allow the camera and microphone in your browser, then open your room again.");
      return;
    }
    fail("");
    await enterWaiting();
  }

  async function admit(id) {
    state.admitClickedAt = performance.now();
    state.trace.push(["admit-click", Date.now()]);
    try { await api("POST", `/v1/visit-session/participants/${id}/admit`); await refresh(); }
    catch (error) { fail(error.message); }
  }

  async function removeParticipant(id) {
    try { await api("POST", `/v1/visit-session/participants/${id}/remove`); await refresh(); }
    catch (error) { fail(error.message); }
  }

  async function invite() {
    try {
      const link = await api("POST", "/v1/visit-session/participants", {
        role: $("invite-role").value, display_name: $("invite-name").value || "Guest",
      });
      $("invite-link").textContent = `Send this link to them: ${window.location.origin}${link.link}`;
      await refresh();
    } catch (error) { fail(error.message); }
  }

  async function saveNote() {
    const area = $("note-body");
    const version = area.dataset.version ? Number(area.dataset.version) : null;
    try {
      const note = await api("PUT", "/v1/visit-session/note", { body: area.value, version });
      area.dataset.version = note.version;
      $("note-status").textContent = "Saved.";
    } catch (error) { $("note-status").textContent = error.message; }
  }

  async function signNote() {
    await saveNote();
    try {
      const note = await api("POST", "/v1/visit-session/note/sign");
      $("note-status").textContent = note.signed_late ? "Signed (late)." : "Signed.";
    } catch (error) { $("note-status").textContent = error.message; }
  }

  // choice: {em_code, em_basis}, or {} to end without an E/M level.
  async function endVisit(choice) {
    try {
      await api("POST", "/v1/visit-session/end", choice);
      hangUp("The visit has ended.");
    } catch (error) { fail(error.message); }
  }

  // --- signaling and WebRTC ---------------------------------------------------------------
  //
  // The socket reconnects with back-off unless its close code says the visit is over for this
  // participant. Every (re)connected socket announces itself and the members already in the
  // call offer to it, so the side that rejoins never has to know who is there. A peer
  // connection that drops is restarted (ICE restart) by the side that offered, and rebuilt
  // when that does not bring it back. A peer whose socket was lost keeps its tile for a while,
  // showing "Reconnecting…", so a reload on the other side does not make them vanish.

  function join() {
    if (state.socket || state.retryTimer || state.ended) return;
    // Opening the link again, or a reload, starts with no camera or microphone. The socket
    // opens meanwhile; offers and answers wait for the media.
    if (!state.local && !state.mediaReady) {
      state.mediaReady = window.visitRoom.devices.open(!state.videoOff).then((stream) => {
        state.trace.push(["media", Date.now()]);
        state.local = stream;
        if (stream && state.admittedAt) $("local-video").srcObject = stream;
      });
    }
    connect();
  }

  function connect() {
    if (state.socket || state.ended) return;
    const scheme = window.location.protocol === "https:" ? "wss" : "ws";
    const socket = new WebSocket(`${scheme}://${window.location.host}/v1/visit-session/signal`);
    state.socket = socket;
    socket.addEventListener("open", () => {
      state.trace.push(["socket-open", Date.now()]);
      socket.send(JSON.stringify({ type: "auth", token: state.token }));
    });
    // Handle messages one at a time, in order: an ICE candidate must not overtake the offer it
    // belongs to.
    socket.addEventListener("message", (event) => {
      if (state.socket !== socket) return;
      const message = JSON.parse(event.data);
      queue(() => onSignal(message));
    });
    socket.addEventListener("close", (event) => {
      if (state.socket !== socket) return;
      state.socket = null;
      if (TERMINAL[event.code]) { hangUp(TERMINAL[event.code]); return; }
      if (state.ended) return;
      state.rejoin = true;
      const delay = RECONNECT_MS[Math.min(state.attempts, RECONNECT_MS.length - 1)];
      state.attempts += 1;
      state.retryTimer = setTimeout(() => { state.retryTimer = null; connect(); }, delay);
      callStatus();
    });
  }

  function queue(work) {
    state.inbox = state.inbox.then(work).catch(() => {});
    return state.inbox;
  }

  function send(message) {
    if (state.socket && state.socket.readyState === WebSocket.OPEN) state.socket.send(JSON.stringify(message));
  }

  async function onSignal(message) {
    state.trace.push([message.type, Date.now()]);
    emit(message.type, message);
    switch (message.type) {
      case "welcome":
        state.attempts = 0;
        state.iceServers = message.ice_servers || [];
        state.iceTransportPolicy = message.ice_transport_policy || "all";
        // After a lost socket the others offer again to this one; connections they do not
        // renew are gone.
        for (const id of [...state.peers.keys()]) closePeer(id, true);
        if (message.state === "admitted") onAdmitted();
        callStatus();
        break;
      case "admitted":
        onAdmitted();
        refresh().catch(() => {});
        break;
      case "peer-joined":
        await offerTo(message.id, message.conn);
        break;
      case "peer-left": {
        const entry = state.peers.get(message.id);
        // The socket of a participant that has since rejoined says nothing about the new one.
        if (entry && entry.conn && message.conn && entry.conn !== message.conn) break;
        closePeer(message.id, message.reason === "lost");
        break;
      }
      case "offer":
        await answer(message);
        break;
      case "answer": {
        const entry = state.peers.get(message.from);
        if (entry && entry.pc.signalingState === "have-local-offer") {
          entry.conn = message.conn;
          await entry.pc.setRemoteDescription({ type: "answer", sdp: message.sdp });
        }
        break;
      }
      case "ice": {
        const entry = state.peers.get(message.from);
        if (entry && message.candidate) await entry.pc.addIceCandidate(message.candidate).catch(() => {});
        break;
      }
      case "waiting-room":
        refresh().catch(() => {});
        break;
      case "removed":
        hangUp("You were removed from the visit.");
        break;
      case "ended":
        hangUp("The visit has ended.");
        break;
      case "error":
        if (message.code === "token_invalid") hangUp("This link is not valid.");
        break;
      default:
        break;
    }
  }

  function onAdmitted() {
    state.admittedAt = state.admittedAt || performance.now();
    sessionStorage.setItem(IN_CALL_KEY, "1");
    show("step-call", true);
    if (state.local) $("local-video").srcObject = state.local;
    if (!state.statsTimer) state.statsTimer = setInterval(reportStats, STATS_EVERY_MS);
    emit("admitted", state);
  }

  function peer(id, conn, offerer) {
    closePeer(id, true);
    const pc = new RTCPeerConnection({
      iceServers: state.iceServers, iceTransportPolicy: state.iceTransportPolicy,
    });
    const entry = { pc, conn, offerer, video: null, audio: null, remoteSession: null, restartTimer: null, rebuildTimer: null };
    const kept = state.away.get(id);
    if (kept) {
      clearTimeout(kept.timer);
      state.away.delete(id);
      entry.video = kept.video;
      entry.audio = kept.audio;
    }
    state.peers.set(id, entry);
    if (state.local) for (const track of state.local.getTracks()) pc.addTrack(track, state.local);
    pc.addEventListener("icecandidate", (event) => {
      if (event.candidate) send({ type: "ice", to: id, candidate: event.candidate.toJSON() });
    });
    let announced = false;
    pc.addEventListener("track", (event) => {
      if (!entry.video) {
        entry.video = document.createElement("video");
        entry.video.autoplay = true;
        entry.video.playsInline = true;
        entry.video.muted = true;  // audio plays through its own element below
        entry.video.id = `remote-${id}`;
        $("remote-videos").appendChild(entry.video);
        entry.audio = document.createElement("audio");
        entry.audio.autoplay = true;
        $("remote-videos").appendChild(entry.audio);
      }
      if (!announced) {
        announced = true;
        watchFirstFrame(entry.video);
        emit("peer", { id, entry });
      }
      const stream = event.streams[0] || new MediaStream([event.track]);
      entry.video.srcObject = stream;
      entry.audio.srcObject = stream;
    });
    pc.addEventListener("connectionstatechange", () => {
      state.trace.push([`pc-${pc.connectionState}`, Date.now()]);
      watchConnection(id, entry);
    });
    return entry;
  }

  function watchConnection(id, entry) {
    if (state.peers.get(id) !== entry) return;
    const now = entry.pc.connectionState;
    if (now === "connected") {
      clearTimeout(entry.restartTimer);
      clearTimeout(entry.rebuildTimer);
      entry.restartTimer = entry.rebuildTimer = null;
    } else if ((now === "disconnected" || now === "failed") && entry.offerer && !entry.restartTimer && !entry.rebuildTimer) {
      // "disconnected" often mends itself within a second or two; "failed" does not.
      entry.restartTimer = setTimeout(() => restartIce(id, entry), now === "failed" ? 0 : ICE_RESTART_AFTER_MS);
    }
    callStatus();
  }

  function restartIce(id, entry) {
    entry.restartTimer = null;
    if (state.peers.get(id) !== entry) return;
    entry.rebuildTimer = setTimeout(() => {
      if (state.peers.get(id) === entry) queue(() => offerTo(id, entry.conn));
    }, REBUILD_AFTER_MS);
    queue(async () => {
      if (state.peers.get(id) !== entry) return;
      state.trace.push(["ice-restart", Date.now()]);
      await entry.pc.setLocalDescription(await entry.pc.createOffer({ iceRestart: true }));
      send({ type: "offer", to: id, sdp: entry.pc.localDescription.sdp });
    });
  }

  function watchFirstFrame(video) {
    if (typeof video.requestVideoFrameCallback !== "function") return;
    video.requestVideoFrameCallback(() => {
      state.trace.push(["first-frame", Date.now()]);
      if (!state.firstFrameAt) state.firstFrameAt = performance.now();
    });
  }

  async function offerTo(id, conn) {
    await state.mediaReady;
    const entry = peer(id, conn, true);
    const offer = await entry.pc.createOffer();
    await entry.pc.setLocalDescription(offer);
    send({ type: "offer", to: id, sdp: entry.pc.localDescription.sdp });
  }

  // The o= line's session id stays the same for every offer of one RTCPeerConnection: the
  // same id is a renegotiation (an ICE restart), another id a new connection.
  function sdpSession(sdp) {
    const line = sdp.split(/\r?\n/).find((l) => l.startsWith("o="));
    return line ? line.split(" ")[1] : null;
  }

  async function answer(message) {
    await state.mediaReady;
    let entry = state.peers.get(message.from);
    if (entry && entry.pc.signalingState === "have-local-offer") {
      // Both sides offered at once (both rejoined): the smaller participant id keeps its offer.
      if (state.me < message.from) return;
      entry = null;
    }
    const session = sdpSession(message.sdp);
    if (!entry || entry.remoteSession !== session) entry = peer(message.from, message.conn, false);
    entry.conn = message.conn;
    entry.remoteSession = session;
    await entry.pc.setRemoteDescription({ type: "offer", sdp: message.sdp });
    await entry.pc.setLocalDescription(await entry.pc.createAnswer());
    send({ type: "answer", to: message.from, sdp: entry.pc.localDescription.sdp });
  }

  function closePeer(id, keepTile) {
    const entry = state.peers.get(id);
    if (!entry) return;
    state.peers.delete(id);
    clearTimeout(entry.restartTimer);
    clearTimeout(entry.rebuildTimer);
    entry.pc.close();
    if (keepTile && entry.video) {
      const timer = setTimeout(() => dropTile(id), AWAY_TILE_MS);
      state.away.set(id, { video: entry.video, audio: entry.audio, timer });
    } else {
      if (entry.video) entry.video.remove();
      if (entry.audio) entry.audio.remove();
    }
    callStatus();
  }

  function dropTile(id) {
    const tile = state.away.get(id);
    if (!tile) return;
    clearTimeout(tile.timer);
    tile.video.remove();
    if (tile.audio) tile.audio.remove();
    state.away.delete(id);
    callStatus();
  }

  function callStatus() {
    if (state.ended || !state.admittedAt) return;
    const peers = [...state.peers.values()];
    const online = !!state.socket && state.socket.readyState === WebSocket.OPEN;
    const settling = peers.some((e) => e.pc.connectionState !== "connected");
    let text;
    if (online && !settling && state.away.size === 0 && peers.length > 0) {
      state.rejoin = false;
      text = "Connected.";
    } else if (!online || state.away.size > 0 || state.rejoin || peers.some((e) => e.pc.connectionState === "disconnected" || e.pc.connectionState === "failed")) {
      text = "Reconnecting…";
    } else {
      text = settling ? "Connecting…" : "Waiting for the others to join.";
    }
    if ($("call-status").textContent !== text) state.trace.push([`status:${text}`, Date.now()]);
    $("call-status").textContent = text;
  }

  async function reportStats() {
    let decoded = 0;
    let sent = 0;
    for (const { pc } of [...state.peers.values()]) {
      const report = await pc.getStats().catch(() => new Map());
      report.forEach((s) => {
        if (s.type === "inbound-rtp" && s.kind === "video") decoded += s.framesDecoded || 0;
        if (s.type === "outbound-rtp" && s.kind === "video") sent += s.framesSent || 0;
      });
    }
    state.framesDecoded = decoded;
    state.framesSent = sent;
    $("media-stats").dataset.framesDecoded = String(decoded);
    $("media-stats").dataset.framesSent = String(sent);
    $("media-stats").textContent = `video frames decoded ${decoded}, sent ${sent}`;
    // What is actually sent: a live track on a video sender (the camera or a shared screen).
    const sending = [...state.peers.values()].some(({ pc }) => pc.getSenders().some(
      (s) => s.track && s.track.kind === "video" && s.track.readyState === "live" && s.track.enabled));
    send({ type: "stats", video_sending: sending, video_frames_sent: sent, video_frames_decoded: decoded });
  }

  // A camera turned off stays off after a reload of this tab.
  function rememberCamera(off) {
    state.videoOff = off;
    if (off) sessionStorage.setItem(CAMERA_OFF_KEY, "1");
    else sessionStorage.removeItem(CAMERA_OFF_KEY);
  }

  function stopVideo() {
    // Stopping the track (not just disabling it) stops frames altogether, so the session
    // record sees the fall back to audio only.
    rememberCamera(true);
    if (state.local) for (const track of state.local.getVideoTracks()) track.stop();
    for (const { pc } of state.peers.values()) {
      for (const sender of pc.getSenders()) {
        if (sender.track && sender.track.kind === "video") sender.replaceTrack(null);
      }
    }
  }

  function hangUp(text) {
    if (state.ended) return;
    state.ended = true;
    forget();
    clearTimeout(state.retryTimer);
    for (const id of [...state.peers.keys()]) closePeer(id);
    for (const id of [...state.away.keys()]) dropTile(id);
    if (state.local) for (const track of state.local.getTracks()) track.stop();
    // "bye" tells the others this participant left, rather than lost the connection.
    send({ type: "bye" });
    if (state.socket) state.socket.close();
    clearInterval(state.statsTimer);
    clearInterval(state.pollTimer);
    say(text);
    show("step-call", false);
    $("room").dataset.state = "ended";
    emit("hangup", text);
  }

  // --- wiring -----------------------------------------------------------------------------

  function wire() {
    const select = $("location-state");
    for (const code of STATES) {
      const option = document.createElement("option");
      option.value = code;
      option.textContent = code;
      select.appendChild(option);
    }
    $("confirm-location").addEventListener("click", confirmLocation);
    $("consent-submit").addEventListener("click", () => giveConsent("written"));
    $("record-verbal-consent").addEventListener("click", async () => {
      try { await api("POST", "/v1/visit-session/consent", { method: "verbal", given_by: "patient", acknowledged: true }); await refresh(); }
      catch (error) { fail(error.message); }
    });
    $("precall-run").addEventListener("click", runPrecall);
    $("use-audio-only").addEventListener("click", () => { stopVideo(); $("precall-offer").hidden = true; });
    $("enter-waiting").addEventListener("click", enterWaiting);
    $("open-room").addEventListener("click", openRoom);
    on("admitted", () => { if (state.session) render(state.session); });
    $("invite-submit").addEventListener("click", invite);
    $("note-save").addEventListener("click", saveNote);
    $("note-sign").addEventListener("click", signNote);
    $("leave-call").addEventListener("click", () => hangUp("You left the visit."));
  }

  window.visitRoom = { state, api, send, on, refresh, say, fail, end: endVisit, rememberCamera };

  async function start() {
    wire();
    state.token = readToken();
    state.videoOff = sessionStorage.getItem(CAMERA_OFF_KEY) === "1";
    if (!state.token) { say("This link is not valid."); return; }
    // This tab was in the call: rejoin at once, while the session loads.
    if (sessionStorage.getItem(IN_CALL_KEY)) {
      state.rejoin = true;
      join();
    }
    try {
      const session = await refresh();
      // Admitted already: a reload or the link opened again, back into the same call.
      if (session.state === "admitted") state.rejoin = true;
      $("location-state").value = session.confirmed_state || session.located_state;
      state.pollTimer = setInterval(() => { if (!state.ended) refresh().catch(() => {}); }, POLL_EVERY_MS);
    } catch (error) {
      forget();
      say("This link is not valid or has expired.");
      $("room").dataset.state = "invalid";
    }
  }

  // After the room's other scripts (devices.js opens the camera and microphone) have loaded.
  document.addEventListener("DOMContentLoaded", start);
})();
