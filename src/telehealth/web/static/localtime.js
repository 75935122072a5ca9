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
    clock: { hour: "numeric", minute: "2-digit", timeZoneName: "short" },
    long: { weekday: "long", month: "long", day: "numeric", hour: "numeric", minute: "2-digit",
      timeZoneName: "long" },
  };
  const zone = document.body.dataset.timeZone || undefined;

  // An instant (Date or ISO text) as the viewer reads it; the pages' scripts use this too.
  // ``inZone`` (an IANA name) shows someone else's clock: a patient's, to their coordinator.
  function localTime(instant, show, inZone) {
    return new Intl.DateTimeFormat(undefined, { ...FORMATS[show], timeZone: inZone || zone })
      .format(new Date(instant));
  }

  function localize(root) {
    for (const element of root.querySelectorAll("time[datetime][data-show]")) {
      const instant = new Date(element.getAttribute("datetime"));
      if (Number.isNaN(instant.getTime()) || !FORMATS[element.dataset.show]) continue;
      element.textContent = localTime(instant, element.dataset.show, element.dataset.zone);
      element.dataset.localized = "1";
    }
  }

  window.localTime = localTime;
  window.localizeTimes = localize;
  localize(document);
})();
