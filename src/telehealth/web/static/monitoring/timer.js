"use strict";
// Shows how long the running care-management timer has run. The start is the server's (kept
// with the time entry), so a reload shows the same time; nothing is kept in the browser. The
// enrollment page's care-time panel arrives after the page (panels.js): it is looked for again
// then.
(function () {
  function start(root) {
    const output = root.querySelector("#timer-elapsed");
    if (!output || output.dataset.ticking) return;
    const started = new Date(output.dataset.started).getTime();
    if (Number.isNaN(started)) return;
    output.dataset.ticking = "1";

    function show() {
      const seconds = Math.max(0, Math.floor((Date.now() - started) / 1000));
      const minutes = Math.floor(seconds / 60);
      output.textContent = `${minutes} min ${String(seconds % 60).padStart(2, "0")} s`;
    }

    show();
    setInterval(show, 1000);
  }

  start(document);
  document.addEventListener("panel-loaded", (event) => start(event.target));
})();
