"use strict";
// The waiting room as patients and guests see it: who the visit is with, when it is (in the
// browser's own time zone), when the room opens, how long until the start, and whether the
// clinician is running late. Redrawn on every session refresh.
(function () {
  const room = window.visitRoom;
  const $ = (id) => document.getElementById(id);
  const MINUTE = 60 * 1000;


  function span(minutes) {
    const hours = Math.floor(minutes / 60);
    const rest = minutes % 60;
    const parts = [];
    if (hours) parts.push(`${hours} ${hours === 1 ? "hour" : "hours"}`);
    if (rest || !hours) parts.push(`${rest} ${rest === 1 ? "minute" : "minutes"}`);
    return parts.join(" ");
  }

  function render(s) {
    if (s.role === "clinician" || s.state === "admitted") return;
    const clinician = s.clinician_name || "your clinician";
    const start = new Date(s.slot_start);
    $("lobby-with").textContent = `Your visit with ${clinician}`;
    $("lobby-when").textContent = window.localTime(start, "long");
    const minutes = Math.ceil((start.getTime() - Date.now()) / MINUTE);
    let text;
    if (!s.waiting_room_open) {
      text = `The waiting room opens at ${window.localTime(s.opens_at, "clock")}. Starts in ${span(minutes)}.`;
    } else if (s.clinician_late) {
      text = `${clinician} is running late. Please stay on this page: you will be let in as soon as they are ready.`;
    } else if (minutes > 0) {
      text = `Starts in ${span(minutes)}.`;
    } else {
      text = "Starting now.";
    }
    $("lobby-starts").textContent = text;
    $("lobby-starts").dataset.late = s.clinician_late ? "1" : "";
    $("enter-waiting").disabled = !s.waiting_room_open;
  }

  room.on("session", render);
  if (room.state.session) render(room.state.session);
})();
