"use strict";
// Gets a fresh join link for the signed-in participant and opens the visit room with it.
// The token stays in the fragment, which the browser never sends to the server.
(function () {
  const button = document.getElementById("join-visit");
  if (!button) return;
  button.addEventListener("click", async () => {
    const visit = button.dataset.visit;
    const response = await fetch(`/v1/visits/${visit}/link`, {
      method: "POST", credentials: "same-origin", headers: { "Content-Type": "application/json" },
    });
    if (!response.ok) {
      document.getElementById("join-error").textContent = "You cannot join this visit now.";
      return;
    }
    const body = await response.json();
    window.location.assign(body.link);
  });
})();

// Message times on the reader's own clock: the page is rendered on the visit's.
(function () {
  for (const element of document.querySelectorAll("time.local-time")) {
    const at = new Date(element.getAttribute("datetime"));
    if (!Number.isNaN(at.getTime())) {
      element.textContent = at.toLocaleString([], { dateStyle: "medium", timeStyle: "short" });
    }
  }
})();
