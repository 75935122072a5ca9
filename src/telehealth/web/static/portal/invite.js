// Accepts an invitation: the token arrives in the URL fragment (never sent to the server with
// the page request), is removed from the address bar at once, and is posted to the API.
// Nothing is written to browser storage.
"use strict";

(function () {
  const form = document.getElementById("invite-form");
  const missing = document.getElementById("invite-missing");
  const status = document.getElementById("invite-status");
  const params = new URLSearchParams(window.location.hash.slice(1));
  const token = params.get("token");
  history.replaceState(null, "", window.location.pathname);
  if (!token) {
    missing.hidden = false;
    return;
  }
  form.hidden = false;

  async function problem(response) {
    try {
      const body = await response.json();
      return body.detail || response.statusText;
    } catch (e) {
      return response.statusText || "the request failed";
    }
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const password = document.getElementById("new-password").value;
    if (password !== document.getElementById("confirm-password").value) {
      status.textContent = "The two passwords differ.";
      return;
    }
    status.textContent = "Saving…";
    const response = await fetch("/v1/invites/accept", {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ token: token, password: password }),
    });
    if (!response.ok) {
      status.textContent = await problem(response);
      return;
    }
    const body = await response.json();
    form.hidden = true;
    form.reset();
    status.textContent = "Your password is set.";
    if (body.totp_provisioning_uri) {
      document.getElementById("invite-mfa-uri").textContent = body.totp_provisioning_uri;
      document.getElementById("invite-mfa").hidden = false;
    }
    document.getElementById("invite-done").hidden = false;
  });
})();
