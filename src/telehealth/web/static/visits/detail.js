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

