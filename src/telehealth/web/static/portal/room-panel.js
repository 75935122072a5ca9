// Beside the video, the clinician sees the patient's pre-visit intake, prior specialist reports
// and monitoring data. The panel is server-rendered HTML fetched with the clinician's signed-in
// session once the room knows its visit; nothing is kept in browser storage.
"use strict";

(function () {
  const room = document.getElementById("room");
  const aside = document.getElementById("visit-context");
  if (!room || !aside) return;
  const status = document.getElementById("visit-context-status");
  let loaded = null;

  async function load(visitId) {
    loaded = visitId;
    aside.hidden = false;
    status.textContent = "Loading the patient's intake, reports and readings…";
    try {
      const response = await fetch(`/portal/visits/${visitId}/context?fragment=1`, {
        credentials: "same-origin", redirect: "manual",
      });
      if (response.type === "opaqueredirect" || response.status === 303) {
        status.textContent = "Sign in to see the patient's intake and records beside the call.";
        return;
      }
      if (!response.ok) {
        status.textContent = "The patient's context could not be loaded.";
        return;
      }
      const html = await response.text();
      const doc = new DOMParser().parseFromString(html, "text/html");
      const panel = doc.getElementById("context-panel");
      if (!panel) throw new Error("no panel");
      aside.replaceChildren(status, document.adoptNode(panel));
      status.textContent = "";
    } catch (error) {
      status.textContent = "The patient's context could not be loaded.";
    }
  }

  function check() {
    const visitId = room.dataset.visit;
    if (room.dataset.role === "clinician" && visitId && visitId !== loaded) load(visitId);
  }

  new MutationObserver(check).observe(room, { attributes: true, attributeFilter: ["data-visit", "data-role"] });
  check();
})();
