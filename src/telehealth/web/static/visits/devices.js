"use strict";
// The pre-call device check: camera, microphone and speaker pickers, a live microphone level
// and a test sound. The chosen camera and microphone open the stream the call sends
// (window.visitRoom.state.local); the chosen speaker plays the call's sound where the browser
// can route audio (HTMLMediaElement.setSinkId).
(function () {
  const room = window.visitRoom;
  const $ = (id) => document.getElementById(id);
  const canPickSpeaker = typeof HTMLMediaElement !== "undefined" &&
    typeof HTMLMediaElement.prototype.setSinkId === "function";
  const LEVEL_EVERY_MS = 100;
  const TONE_SECONDS = 1;

  let audio = null;  // one AudioContext for the level meter and the test sound
  let level = null;  // { source, analyser, timer }

  function context() {
    if (!audio) audio = new AudioContext();
    // Created or resumed inside a click, so autoplay rules let it run.
    audio.resume().catch(() => {});
    return audio;
  }

  function chosen(id) {
    const value = $(id).value;
    return value ? { deviceId: { exact: value } } : true;
  }

  async function getMedia(video) {
    const audioWanted = chosen("microphone-select");
    try {
      return await navigator.mediaDevices.getUserMedia({
        audio: audioWanted, video: video ? chosen("camera-select") : false,
      });
    } catch (error) {
      if (video) return navigator.mediaDevices.getUserMedia({ audio: audioWanted, video: false }).catch(() => null);
      return null;
    }
  }

  // Opens the chosen devices: the stream becomes the call's local stream and the preview.
  async function open(video) {
    const previous = room.state.local;
    if (previous) for (const track of previous.getTracks()) track.stop();
    const stream = await getMedia(video);
    room.state.local = stream;
    $("preview").srcObject = stream;
    watchLevel(stream);
    await listDevices(stream);
    return stream;
  }

  async function listDevices(stream) {
    if (!navigator.mediaDevices.enumerateDevices) return;
    const devices = await navigator.mediaDevices.enumerateDevices();
    const inUse = (kind) => {
      const track = stream && (kind === "videoinput" ? stream.getVideoTracks() : stream.getAudioTracks())[0];
      return track ? track.getSettings().deviceId : null;
    };
    fill("camera-select", devices, "videoinput", inUse("videoinput"), "Camera");
    fill("microphone-select", devices, "audioinput", inUse("audioinput"), "Microphone");
    if (canPickSpeaker) {
      fill("speaker-select", devices, "audiooutput", $("speaker-select").value || "default", "Speaker");
      $("speaker-note").textContent = $("speaker-select").options.length
        ? ""
        : "No speakers to choose from: sound plays through your device's default speaker.";
    }
  }

  function fill(id, devices, kind, current, fallback) {
    const select = $(id);
    const found = devices.filter((d) => d.kind === kind && d.deviceId);
    select.replaceChildren(...found.map((device, index) => {
      const option = document.createElement("option");
      option.value = device.deviceId;
      option.textContent = device.label || `${fallback} ${index + 1}`;
      return option;
    }));
    if (current && found.some((d) => d.deviceId === current)) select.value = current;
    select.disabled = found.length === 0;
  }

  // --- microphone level -------------------------------------------------------------------

  function stopLevel() {
    if (!level) return;
    clearInterval(level.timer);
    level.source.disconnect();
    level = null;
    $("mic-level").value = 0;
  }

  function watchLevel(stream) {
    stopLevel();
    if (!stream || stream.getAudioTracks().length === 0) {
      $("mic-level").textContent = "no microphone";
      return;
    }
    const ctx = context();
    const source = ctx.createMediaStreamSource(stream);
    const analyser = ctx.createAnalyser();
    analyser.fftSize = 1024;
    source.connect(analyser);
    const samples = new Float32Array(analyser.fftSize);
    const meter = $("mic-level");
    const timer = setInterval(() => {
      analyser.getFloatTimeDomainData(samples);
      let sum = 0;
      for (const sample of samples) sum += sample * sample;
      const rms = Math.sqrt(sum / samples.length);
      // Rise at once, fall slowly, so that short sounds stay visible.
      const shown = Math.max(Math.min(1, rms * 4), meter.value * 0.8);
      meter.value = shown;
      meter.textContent = `${Math.round(shown * 100)}%`;
    }, LEVEL_EVERY_MS);
    level = { source, analyser, timer };
  }

  // --- speaker ----------------------------------------------------------------------------

  async function toSpeaker(element) {
    const sink = $("speaker-select").value;
    if (canPickSpeaker && sink) await element.setSinkId(sink);
  }

  async function testSound() {
    const result = $("speaker-result");
    const ctx = context();
    const oscillator = ctx.createOscillator();
    const gain = ctx.createGain();
    const out = ctx.createMediaStreamDestination();
    oscillator.frequency.value = 440;
    gain.gain.setValueAtTime(0.2, ctx.currentTime);
    gain.gain.linearRampToValueAtTime(0, ctx.currentTime + TONE_SECONDS);
    oscillator.connect(gain).connect(out);
    const player = new Audio();
    player.srcObject = out.stream;
    try {
      await toSpeaker(player);
      await player.play();
    } catch (error) {
      result.textContent = "The test sound could not play. Check that your speaker is on and not muted.";
      return;
    }
    result.textContent = "Playing a test sound…";
    result.dataset.sink = player.sinkId;
    oscillator.start();
    oscillator.stop(ctx.currentTime + TONE_SECONDS);
    oscillator.addEventListener("ended", () => {
      player.srcObject = null;
      result.textContent = "Did you hear a tone? If not, turn the volume up or choose another speaker.";
      result.dataset.played = "1";
    });
  }

  function wire() {
    for (const id of ["camera-select", "microphone-select"]) {
      $(id).addEventListener("change", () => open(!room.state.videoOff));
    }
    $("speaker-test").addEventListener("click", testSound);
    if (!canPickSpeaker) {
      $("speaker-select").hidden = true;
      for (const label of $("speaker-select").labels) label.hidden = true;
      $("speaker-note").textContent = "This browser cannot choose a speaker: sound plays through " +
        "your device's default speaker. You can change it in your device's sound settings.";
    }
    // The call's sound plays through the chosen speaker; the check's meter stops with it.
    room.on("peer", ({ entry }) => { toSpeaker(entry.audio).catch(() => {}); });
    room.on("admitted", stopLevel);
    room.on("hangup", stopLevel);
  }

  room.devices = { open };
  wire();
})();
