// Poll the search's progress and move on when it is done.
(function () {
  "use strict";
  var el = document.getElementById("progress");
  if (!el || !window.fetch) { return; }
  var url = el.getAttribute("data-progress-url");
  function poll() {
    fetch(url, { credentials: "same-origin", cache: "no-store" })
      .then(function (r) { return r.json(); })
      .then(function (data) {
        if (data.state !== "searching") { window.location.assign(data.next); }
        else { window.setTimeout(poll, 1000); }
      })
      .catch(function () { window.setTimeout(poll, 3000); });
  }
  window.setTimeout(poll, 800);
})();
