// aievents dashboard: fetches the report again while the page is open, and
// applies a choice of the filter bar as soon as it is made. Served by the
// package; the page works without it (the Apply button, a reload).
(function () {
  "use strict";

  var seconds = parseInt(document.body.getAttribute("data-refresh-seconds") || "0", 10);

  function stamp(text) {
    var where = document.getElementById("updated");
    if (where) {
      where.textContent = text;
    }
  }

  function refresh() {
    if (document.hidden) {
      return;
    }
    fetch(window.location.href, {
      headers: { "X-Aievents-Fragment": "report" },
      cache: "no-store",
      credentials: "same-origin",
    })
      .then(function (answer) {
        if (!answer.ok) {
          throw new Error("HTTP " + answer.status);
        }
        return answer.text();
      })
      .then(function (text) {
        var fresh = new DOMParser().parseFromString(text, "text/html").getElementById("report");
        var shown = document.getElementById("report");
        if (fresh && shown) {
          shown.replaceWith(document.importNode(fresh, true));
        }
        stamp("updated " + new Date().toLocaleTimeString());
      })
      .catch(function (problem) {
        stamp("not updated (" + problem.message + "); trying again");
      });
  }

  var form = document.getElementById("filters");
  if (form) {
    form.addEventListener("change", function () {
      form.requestSubmit();
    });
  }
  if (seconds > 0) {
    stamp("updates every " + seconds + " s");
    window.setInterval(refresh, seconds * 1000);
    document.addEventListener("visibilitychange", function () {
      if (!document.hidden) {
        refresh();
      }
    });
  }
})();
