"use strict";
// Names the viewer's time zone in the enrolment form, so the consent time typed on the local
// clock is read in that zone (without this script the server reads it as UTC).
(function () {
  const field = document.getElementById("enrol-zone");
  if (!field) return;
  field.value = document.body.dataset.timeZone || Intl.DateTimeFormat().resolvedOptions().timeZone || "";
})();
