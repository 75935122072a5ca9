"use strict";
// The enrollment page's heavier panels (billing, care-management time, devices, messages) come
// after the page, each from its own route: every placeholder names its panel's URL (data-panel)
// and is replaced by the panel once it arrives. Without scripts, the placeholder's link opens the
// panel as a page of its own; when a panel cannot be loaded, the same link is offered.
(function () {
  const placeholders = Array.from(document.querySelectorAll("section[data-panel]"));
  if (!placeholders.length) return;

  function offerLink(placeholder, status) {
    const link = document.createElement("a");
    link.href = placeholder.dataset.panel.replace(/\?fragment=1$/, "");
    link.textContent = "Open it on its own page";
    status.replaceChildren("This part of the page could not be loaded. ", link);
    placeholder.removeAttribute("aria-busy");
  }

  async function load(placeholder) {
    const status = placeholder.querySelector("[data-panel-status]");
    status.hidden = false;
    try {
      const response = await fetch(placeholder.dataset.panel, {
        credentials: "same-origin", redirect: "manual",
      });
      if (!response.ok) throw new Error(`status ${response.status}`);
      const doc = new DOMParser().parseFromString(await response.text(), "text/html");
      const panel = doc.getElementById(placeholder.id);
      if (!panel) throw new Error("no panel");
      const placed = document.adoptNode(panel);
      placeholder.replaceWith(placed);
      if (window.localizeTimes) window.localizeTimes(placed);
      placed.dispatchEvent(new CustomEvent("panel-loaded", { bubbles: true }));
    } catch (error) {
      offerLink(placeholder, status);
    }
  }

  Promise.all(placeholders.map(load)).then(() => {
    // A form's redirect names its panel (#time, #messages): the browser went to the
    // placeholder, and the panels above it have grown since.
    const target = window.location.hash && document.getElementById(window.location.hash.slice(1));
    if (target) target.scrollIntoView();
  });
})();
