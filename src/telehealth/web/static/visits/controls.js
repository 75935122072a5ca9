"use strict";
// Call controls of the visit room: microphone and camera toggles, screen sharing for the
// clinician, a tile per participant with their name, role, media state and connection quality,
// and the clinician's End dialog asking the E/M level.
//
// Every participant tells the others its media state in a "media" signaling message, so a
// camera that is off shows as "audio only" on every side instead of a frozen last frame.
(function () {
  const room = window.visitRoom;
  const { state } = room;
  const $ = (id) => document.getElementById(id);

  const QUALITY_EVERY_MS = 2000;
  // Round trip (seconds), share of packets lost, jitter (seconds): beyond "fair" a
  // conversation is hard to hold (ITU-T G.114 puts one-way delay over 150 ms as noticeable).
  const FAIR = { rtt: 0.2, loss: 0.02, jitter: 0.03 };
  const POOR = { rtt: 0.4, loss: 0.08, jitter: 0.1 };
  const ROLES = {
    patient: "Patient", clinician: "Clinician", interpreter: "Interpreter",
    caregiver: "Caregiver or family", second_clinician: "Second clinician",
  };

  const mine = { audio: true, video: true, screen: false };
  const people = new Map();    // participant id -> {display_name, role}
  const states = new Map();    // participant id -> {audio, video, screen}
  const counters = new Map();  // participant id -> packet counters at the last measurement
  const flowing = new Map();   // participant id -> whether their video frames arrive
  const watched = new Map();   // participant id -> the video receiver watched for frames
  let screenTrack = null;
  let qualityTimer = null;

  function tell(text) { $("controls-status").textContent = text; }

  function announce(to) {
    room.send({ type: "media", to, audio: mine.audio, video: mine.video, screen: mine.screen });
  }

  // --- tiles ------------------------------------------------------------------------------

  function part(cls, text) {
    const span = document.createElement("span");
    span.className = cls;
    span.textContent = text || "";
    span.hidden = cls !== "tile-name";
    return span;
  }

  // frames: whether video frames arrive (a remote tile); a stalled stream shows no frozen
  // frame either, even from a side that said nothing about its camera.
  function showState(figure, media, frames = true) {
    const sent = media.video || media.screen;
    figure.dataset.audio = media.audio ? "on" : "off";
    figure.dataset.video = sent && frames ? "on" : "off";
    figure.querySelector(".tile-mic").hidden = media.audio;
    const camera = figure.querySelector(".tile-camera");
    camera.hidden = sent && frames;
    camera.textContent = sent ? "No video — audio only" : "Camera off — audio only";
    figure.querySelector(".tile-screen").hidden = !media.screen;
  }

  function showRemote(id) {
    const figure = $(`tile-${id}`);
    const media = states.get(id) || { audio: true, video: true, screen: false };
    if (figure) showState(figure, media, flowing.get(id));
  }

  function name(id) {
    const who = people.get(id);
    const role = (who && ROLES[who.role]) || "Participant";
    return { label: who && who.display_name ? `${who.display_name} · ${role}` : role,
      short: who && who.display_name ? who.display_name : role };
  }

  function labelTile(id) {
    const figure = $(`tile-${id}`);
    if (!figure) return;
    const { label, short } = name(id);
    figure.querySelector(".tile-name").textContent = label;
    figure.querySelector(".placeholder").textContent = short;
    figure.setAttribute("aria-label", label);
  }

  function addTile(id, video) {
    let figure = $(`tile-${id}`);
    if (!figure) {
      figure = document.createElement("figure");
      figure.className = "tile";
      figure.id = `tile-${id}`;
      const placeholder = document.createElement("div");
      placeholder.className = "placeholder";
      placeholder.setAttribute("aria-hidden", "true");
      const caption = document.createElement("figcaption");
      caption.append(part("tile-name"), part("tile-mic", "Microphone off"),
        part("tile-camera", "Camera off — audio only"), part("tile-screen", "Sharing the screen"),
        part("tile-quality"));
      figure.append(placeholder, caption);
      $("remote-videos").appendChild(figure);
    }
    // A peer connection made again (after a reconnect) brings a new element.
    for (const old of figure.querySelectorAll("video")) if (old !== video) old.remove();
    figure.prepend(video);
    labelTile(id);
    showRemote(id);
  }

  function watchFrames(id, pc) {
    // A remote track is muted while no media arrives for it: before the first frame, and when
    // the sender stops sending.
    const receiver = pc.getReceivers().find((r) => r.track && r.track.kind === "video");
    if (!receiver) return;
    watched.set(id, receiver);
    const update = () => {
      if (watched.get(id) !== receiver) return;  // a closed connection's late event
      flowing.set(id, !receiver.track.muted);
      showRemote(id);
    };
    receiver.track.addEventListener("mute", update);
    receiver.track.addEventListener("unmute", update);
    update();
  }

  function learn(id, message) {
    if (!id || !message.display_name) return;
    people.set(id, { display_name: message.display_name, role: message.role });
    labelTile(id);
  }

  // --- microphone, camera, screen ---------------------------------------------------------

  function pressed() {
    $("mic-toggle").setAttribute("aria-pressed", String(!mine.audio));
    $("camera-toggle").setAttribute("aria-pressed", String(!mine.video));
    $("screen-toggle").setAttribute("aria-pressed", String(mine.screen));
    showState($("local-tile"), mine);
  }

  function liveCamera() {
    return state.local ? state.local.getVideoTracks().find((t) => t.readyState === "live") : undefined;
  }

  function videoSender(pc) {
    const transceivers = pc.getTransceivers();
    const sending = transceivers.find((t) => t.sender.track && t.sender.track.kind === "video");
    const receiving = transceivers.find((t) => t.receiver.track && t.receiver.track.kind === "video");
    return (sending || receiving || {}).sender;
  }

  async function sendVideo(track) {
    await Promise.all([...state.peers.values()].map(({ pc }) => {
      const sender = videoSender(pc);
      return sender ? sender.replaceTrack(track).catch(() => {}) : null;
    }));
  }

  function toggleMic() {
    mine.audio = !mine.audio;
    for (const track of state.local ? state.local.getAudioTracks() : []) track.enabled = mine.audio;
    pressed();
    announce();
  }

  async function cameraOff() {
    // Stopped, not disabled: the light goes off and no frames leave, so the session record
    // sees audio only.
    if (!mine.screen) await sendVideo(null);
    for (const track of state.local ? state.local.getVideoTracks() : []) track.stop();
    window.visitRoom.rememberCamera(true);
    mine.video = false;
  }

  async function cameraOn() {
    let track;
    try {
      track = (await navigator.mediaDevices.getUserMedia({ video: true })).getVideoTracks()[0];
    } catch (error) {
      tell("Your camera could not be turned on.");
      return;
    }
    if (!state.local) state.local = new MediaStream();
    // The ended track goes; peers that join later get the new one with the call's tracks.
    for (const old of state.local.getVideoTracks()) state.local.removeTrack(old);
    state.local.addTrack(track);
    if (!mine.screen) {
      await sendVideo(track);
      $("local-video").srcObject = state.local;
    }
    window.visitRoom.rememberCamera(false);
    mine.video = true;
  }

  // One change at a time per button; the others learn the new state once it is in place.
  async function toggle(id, work) {
    const button = $(id);
    button.disabled = true;
    tell("");
    try { await work(); } finally { button.disabled = false; }
    pressed();
    announce();
  }

  function toggleCamera() { return toggle("camera-toggle", mine.video ? cameraOff : cameraOn); }

  async function shareScreen() {
    let stream;
    try {
      stream = await navigator.mediaDevices.getDisplayMedia({ video: true, audio: false });
    } catch (error) {
      tell("Screen sharing did not start.");
      return;
    }
    screenTrack = stream.getVideoTracks()[0];
    // The browser's own "Stop sharing" ends the track.
    screenTrack.addEventListener("ended", () => { if (mine.screen) toggleScreen(); });
    await sendVideo(screenTrack);
    $("local-video").srcObject = stream;
    mine.screen = true;
  }

  async function stopSharing() {
    mine.screen = false;
    await sendVideo(mine.video ? liveCamera() || null : null);
    if (screenTrack) screenTrack.stop();
    screenTrack = null;
    $("local-video").srcObject = state.local;
  }

  function toggleScreen() { return toggle("screen-toggle", mine.screen ? stopSharing : shareScreen); }

  // --- connection quality -----------------------------------------------------------------

  async function measure(id, pc) {
    const report = await pc.getStats();
    let rtt = 0;
    let jitter = 0;
    let lost = 0;
    let received = 0;
    report.forEach((s) => {
      if (s.type === "candidate-pair" && s.nominated && s.state === "succeeded") rtt = s.currentRoundTripTime || 0;
      if (s.type === "inbound-rtp") {
        lost += Math.max(0, s.packetsLost || 0);
        received += s.packetsReceived || 0;
        if (s.kind === "audio") jitter = s.jitter || 0;
      }
    });
    const before = counters.get(id) || { lost: 0, received: 0 };
    counters.set(id, { lost, received });
    const newlyLost = lost - before.lost;
    const total = newlyLost + received - before.received;
    return { rtt, jitter, loss: total > 0 ? newlyLost / total : 0 };
  }

  function grade(m) {
    if (m.rtt > POOR.rtt || m.loss > POOR.loss || m.jitter > POOR.jitter) return "Poor";
    if (m.rtt > FAIR.rtt || m.loss > FAIR.loss || m.jitter > FAIR.jitter) return "Fair";
    return "Good";
  }

  async function rateConnections() {
    for (const [id, { pc }] of state.peers) {
      const figure = $(`tile-${id}`);
      if (!figure || pc.connectionState !== "connected") continue;
      const m = await measure(id, pc).catch(() => null);
      if (!m) continue;
      const level = grade(m);
      const span = figure.querySelector(".tile-quality");
      span.hidden = false;
      span.textContent = `${level} connection`;
      span.title = `Round trip ${Math.round(m.rtt * 1000)} ms, ` +
        `${Math.round(m.loss * 100)}% packets lost, jitter ${Math.round(m.jitter * 1000)} ms`;
      figure.dataset.quality = level.toLowerCase();
    }
  }

  // --- ending the visit -------------------------------------------------------------------

  function choice(name) {
    const checked = document.querySelector(`input[name='${name}']:checked`);
    return checked ? checked.value : null;
  }

  function levelRow(level) {
    const row = document.createElement("tr");
    const pick = document.createElement("label");
    const radio = document.createElement("input");
    radio.type = "radio";
    radio.name = "end-level";
    radio.value = level.code;
    pick.append(radio, ` ${level.code}`);
    const cells = [pick, level.descriptor, `${level.minutes} min`];
    for (const content of cells) {
      const cell = document.createElement("td");
      cell.append(content);
      row.appendChild(cell);
    }
    return row;
  }

  async function openEnd() {
    // Fresh figures: the session time so far is measured by the server at this moment.
    await room.refresh().catch(() => {});
    const offer = (state.session && state.session.em) || { minutes: null, choices: [] };
    $("end-minutes").textContent = offer.minutes === null ? "—" : `${offer.minutes} minutes`;
    $("end-levels").replaceChildren(...offer.choices.map(levelRow));
    $("end-error").textContent = "";
    $("end-dialog").showModal();
  }

  function endWithLevel() {
    const code = choice("end-level");
    const basis = choice("end-basis");
    if (!code || !basis) {
      $("end-error").textContent = "Choose a level and how you chose it, or decide later.";
      return;
    }
    $("end-dialog").close();
    room.end({ em_code: code, em_basis: basis });
  }

  function endLater() {
    $("end-dialog").close();
    room.end({});
  }

  // --- wiring -----------------------------------------------------------------------------

  function onAdmitted() {
    const audio = state.local ? state.local.getAudioTracks() : [];
    $("mic-toggle").disabled = audio.length === 0;
    mine.audio = audio.some((t) => t.enabled);
    mine.video = !state.videoOff && !!liveCamera();
    pressed();
    announce();
    if (!qualityTimer) qualityTimer = setInterval(() => { rateConnections().catch(() => {}); }, QUALITY_EVERY_MS);
  }

  room.on("session", (s) => { $("screen-toggle").hidden = s.role !== "clinician"; });
  room.on("admitted", onAdmitted);
  room.on("peer-joined", (m) => learn(m.id, m));
  room.on("offer", (m) => learn(m.from, m));
  room.on("media", (m) => {
    learn(m.from, m);
    states.set(m.from, { audio: m.audio, video: m.video, screen: m.screen });
    showRemote(m.from);
  });
  room.on("peer", ({ id, entry }) => {
    addTile(id, entry.video);
    watchFrames(id, entry.pc);
    // A peer connection starts with the camera's track; a shared screen replaces it.
    if (mine.screen && screenTrack) {
      const sender = videoSender(entry.pc);
      if (sender) sender.replaceTrack(screenTrack).catch(() => {});
    }
    announce(id);
  });
  room.on("peer-left", (m) => {
    const figure = $(`tile-${m.id}`);
    if (figure) figure.remove();
    states.delete(m.id);
    counters.delete(m.id);
    flowing.delete(m.id);
    watched.delete(m.id);
  });
  room.on("hangup", () => {
    clearInterval(qualityTimer);
    if (screenTrack) screenTrack.stop();
    if ($("end-dialog").open) $("end-dialog").close();
  });

  $("mic-toggle").addEventListener("click", toggleMic);
  $("camera-toggle").addEventListener("click", toggleCamera);
  $("screen-toggle").addEventListener("click", toggleScreen);
  $("end-visit").addEventListener("click", openEnd);
  $("end-with-level").addEventListener("click", endWithLevel);
  $("end-later").addEventListener("click", endLater);
  $("end-cancel").addEventListener("click", () => $("end-dialog").close());
})();
