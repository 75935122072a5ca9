"use strict";
// Names the viewer's time zone in the consent forms (enrolment, consent recorded again), so a
// consent time typed on the local clock is read in that zone (without this script the server
// reads it as UTC).
(function () {
  const zone = document.body.dataset.timeZone || Intl.DateTimeFormat().resolvedOptions().timeZone || "";
  for (const field of document.querySelectorAll('input[type="hidden"][name="time_zone"]')) field.value = zone;
})();
