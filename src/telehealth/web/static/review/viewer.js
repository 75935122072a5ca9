// The case page's photo viewer: a thumbnail opens the photo in a modal <dialog> with zoom
// (buttons, + and -), previous/next (buttons, arrow keys) and Escape to close; focus then
// returns to the thumbnail that opened it. Photos come from the same audited media route.
"use strict";

(function () {
  const dialog = document.getElementById("viewer");
  const thumbs = Array.from(document.querySelectorAll("[data-viewer-photo]"));
  if (!dialog || !thumbs.length || typeof dialog.showModal !== "function") return;
  const image = document.getElementById("viewer-image");
  const stage = document.getElementById("viewer-stage");
  const caption = document.getElementById("viewer-caption");
  const STEP = 1.5;
  const MAX = 8;
  let index = 0;
  let zoom = 1;
  let opener = null;

  function fitted() {
    // The photo's size when it fits the stage (never enlarged beyond its own pixels).
    const width = image.naturalWidth || 1;
    const height = image.naturalHeight || 1;
    const scale = Math.min(stage.clientWidth / width, stage.clientHeight / height, 1);
    return { width: width * scale, height: height * scale };
  }

  function applyZoom(next) {
    zoom = Math.min(MAX, Math.max(1, next));
    dialog.dataset.zoom = String(zoom);
    if (zoom === 1) {
      stage.classList.remove("zoomed");
      image.style.width = "";
      image.style.height = "";
      return;
    }
    // Keep the point at the middle of the stage in the middle as the photo grows or shrinks.
    const middleX = (stage.scrollLeft + stage.clientWidth / 2) / Math.max(stage.scrollWidth, 1);
    const middleY = (stage.scrollTop + stage.clientHeight / 2) / Math.max(stage.scrollHeight, 1);
    const size = fitted();
    stage.classList.add("zoomed");
    image.style.width = Math.round(size.width * zoom) + "px";
    image.style.height = Math.round(size.height * zoom) + "px";
    stage.scrollLeft = middleX * stage.scrollWidth - stage.clientWidth / 2;
    stage.scrollTop = middleY * stage.scrollHeight - stage.clientHeight / 2;
  }

  function zoomIn() { applyZoom(zoom * STEP); }
  function zoomOutOnce() { applyZoom(zoom / STEP < 1.01 ? 1 : zoom / STEP); }

  function show(next) {
    index = (next + thumbs.length) % thumbs.length;
    const thumb = thumbs[index].querySelector("img");
    applyZoom(1);
    image.src = thumb.getAttribute("src");
    image.alt = thumb.alt;
    caption.textContent = "Photo " + (index + 1) + " of " + thumbs.length;
    dialog.dataset.photo = String(index + 1);
  }

  function open(thumb) {
    opener = thumb;
    show(thumbs.indexOf(thumb));
    dialog.showModal();
    stage.focus();
  }

  thumbs.forEach(function (thumb) {
    thumb.addEventListener("click", function () { open(thumb); });
  });
  document.getElementById("viewer-close").addEventListener("click", function () { dialog.close(); });
  document.getElementById("viewer-prev").addEventListener("click", function () { show(index - 1); });
  document.getElementById("viewer-next").addEventListener("click", function () { show(index + 1); });
  document.getElementById("viewer-zoom-in").addEventListener("click", zoomIn);
  document.getElementById("viewer-zoom-out").addEventListener("click", zoomOutOnce);
  document.getElementById("viewer-fit").addEventListener("click", function () { applyZoom(1); });

  dialog.addEventListener("keydown", function (event) {
    if (event.altKey || event.ctrlKey || event.metaKey) return;
    const actions = {
      "+": zoomIn,
      "=": zoomIn,
      "-": zoomOutOnce,
      "0": function () { applyZoom(1); },
      ArrowLeft: function () { show(index - 1); },
      ArrowRight: function () { show(index + 1); },
    };
    const action = actions[event.key];
    if (!action) return;
    event.preventDefault();
    action();
  });
  // Escape closes a modal dialog by itself; every way of closing gives focus back.
  dialog.addEventListener("close", function () {
    image.removeAttribute("src");
    if (opener) opener.focus();
  });
})();
