// A small tus 1.0 client (creation, checksum, resume from the server's offset) for case files.
// Requests carry the session cookie; nothing about the upload is kept in browser storage.
"use strict";

(function () {
  const CHUNK = 4 * 1024 * 1024;
  const RETRIES = 5;
  const form = document.getElementById("upload-form");
  if (!form) return;
  const input = document.getElementById("upload-files");
  const progress = document.getElementById("upload-progress");
  const status = document.getElementById("upload-status");
  const endpoint = form.dataset.endpoint;
  const caseId = form.dataset.caseId;

  function b64(text) {
    return btoa(String.fromCharCode(...new TextEncoder().encode(text)));
  }

  async function checksum(buffer) {
    if (!window.crypto || !window.crypto.subtle) return null;  // insecure context: skip
    const digest = await window.crypto.subtle.digest("SHA-256", buffer);
    return "sha256 " + btoa(String.fromCharCode(...new Uint8Array(digest)));
  }

  async function problem(response) {
    try {
      const body = await response.json();
      return body.detail || response.statusText;
    } catch (e) {
      return response.statusText || "upload failed";
    }
  }

  async function create(file) {
    const metadata = [
      "case_id " + b64(caseId),
      "filename " + b64(file.name),
      file.type ? "filetype " + b64(file.type) : null,
    ].filter(Boolean).join(",");
    const response = await fetch(endpoint, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Tus-Resumable": "1.0.0", "Upload-Length": String(file.size), "Upload-Metadata": metadata },
    });
    if (response.status !== 201) throw new Error(await problem(response));
    return response.headers.get("Location");
  }

  async function serverOffset(url) {
    const response = await fetch(url, { method: "HEAD", credentials: "same-origin", headers: { "Tus-Resumable": "1.0.0" } });
    if (!response.ok) throw new Error("the upload can no longer be resumed");
    return Number(response.headers.get("Upload-Offset"));
  }

  async function send(url, file, offset) {
    const buffer = await file.slice(offset, offset + CHUNK).arrayBuffer();
    const headers = {
      "Tus-Resumable": "1.0.0",
      "Upload-Offset": String(offset),
      "Content-Type": "application/offset+octet-stream",
    };
    const sum = await checksum(buffer);
    if (sum) headers["Upload-Checksum"] = sum;
    const response = await fetch(url, { method: "PATCH", credentials: "same-origin", headers, body: buffer });
    if (response.status === 204) return Number(response.headers.get("Upload-Offset"));
    const error = new Error(await problem(response));
    // Conflicts, checksum mismatches and server errors are worth a retry from the server's offset.
    error.retry = response.status === 409 || response.status === 460 || response.status >= 500;
    throw error;
  }

  async function upload(file, done, total) {
    const url = await create(file);
    let offset = 0;
    let failures = 0;
    while (offset < file.size) {
      try {
        offset = await send(url, file, offset);
        failures = 0;
      } catch (error) {
        failures += 1;
        if (!error.retry && !(error instanceof TypeError)) throw error;
        if (failures > RETRIES) throw error;
        await new Promise((resolve) => setTimeout(resolve, 500 * 2 ** failures));
        offset = await serverOffset(url);
      }
      progress.value = Math.round(((done + offset) / total) * 100);
    }
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const files = Array.from(input.files || []);
    if (!files.length) {
      status.textContent = "Choose at least one file.";
      return;
    }
    const total = files.reduce((sum, f) => sum + f.size, 0);
    let done = 0;
    progress.hidden = false;
    progress.value = 0;
    for (const file of files) {
      status.textContent = "Uploading " + file.name + "…";
      try {
        await upload(file, done, total);
      } catch (error) {
        status.textContent = file.name + ": " + error.message;
        return;
      }
      done += file.size;
    }
    status.textContent = "All files uploaded.";
    window.location.reload();
  });
})();
