"use strict";
// Shows every <time data-show> in the viewer's time zone, with the zone's abbreviation. The
// server writes the instant in the datetime attribute and a UTC text for browsers without
// scripts (see web/times.py).
(function () {
  const FORMATS = {
    datetime: { weekday: "short", day: "numeric", month: "short", year: "numeric",
      hour: "2-digit", minute: "2-digit", timeZoneName: "short" },
    time: { hour: "2-digit", minute: "2-digit", second: "2-digit", timeZoneName: "short" },
    date: { weekday: "short", day: "numeric", month: "short", year: "numeric" },
  };
  const zone = document.body.dataset.timeZone || undefined;

  function localize(root) {
    for (const element of root.querySelectorAll("time[datetime][data-show]")) {
      const instant = new Date(element.getAttribute("datetime"));
      const format = FORMATS[element.dataset.show];
      if (Number.isNaN(instant.getTime()) || !format) continue;
      element.textContent = new Intl.DateTimeFormat(undefined, { ...format, timeZone: zone }).format(instant);
      element.dataset.localized = "1";
    }
  }

  window.localizeTimes = localize;
  localize(document);
})();
