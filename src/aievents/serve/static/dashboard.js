// aievents dashboard: fetches the report again while the page is open, and
// applies a choice of the filter bar as soon as it is made. Served by the
// package; the page works without it (the Apply button, a reload).
//
// One fetch at a time: the next is planned when the last has settled, a
// tick while one is in flight is skipped (counted in data-refresh-skipped),
// hiding the page or leaving it aborts the one in flight, and an answer to
// any but the latest fetch is dropped.
(function () {
  "use strict";

  var body = document.body;
  var seconds = parseInt(body.getAttribute("data-refresh-seconds") || "0", 10);
  var sequence = 0;
  var inFlight = null; // the AbortController of the fetch in flight
  var timer = null;
  var skipped = 0;

  function stamp(text) {
    var where = document.getElementById("updated");
    if (where) {
      where.textContent = text;
    }
  }

  function utc(moment) {
    return moment.toISOString().slice(11, 19) + " UTC";
  }

  function plan() {
    window.clearTimeout(timer);
    timer = window.setTimeout(refresh, seconds * 1000);
  }

  function abort() {
    if (inFlight) {
      inFlight.abort();
      inFlight = null;
    }
  }

  function refresh() {
    if (document.hidden) {
      return; // planned again when the page is shown
    }
    if (inFlight) {
      skipped += 1;
      body.setAttribute("data-refresh-skipped", String(skipped));
      return; // planned again when it settles
    }
    sequence += 1;
    var mine = sequence;
    var control = new AbortController();
    inFlight = control;
    body.setAttribute("data-refresh-sequence", String(mine));
    fetch(window.location.href, {
      headers: { "X-Aievents-Fragment": "report" },
      cache: "no-store",
      credentials: "same-origin",
      signal: control.signal,
    })
      .then(function (answer) {
        if (answer.status === 401) {
          window.location.reload(); // the session ended: the login form, not stale numbers
        }
        if (!answer.ok) {
          throw new Error("HTTP " + answer.status);
        }
        return answer.text();
      })
      .then(function (text) {
        if (mine !== sequence) {
          return; // a later fetch was made: this answer is stale
        }
        var fresh = new DOMParser().parseFromString(text, "text/html").getElementById("report");
        var shown = document.getElementById("report");
        if (fresh && shown) {
          shown.replaceWith(document.importNode(fresh, true));
        }
        stamp("updated " + utc(new Date()));
      })
      .catch(function (problem) {
        if (mine === sequence && problem.name !== "AbortError") {
          stamp("not updated (" + problem.message + "); trying again");
        }
      })
      .finally(function () {
        if (inFlight === control) {
          inFlight = null;
          if (!document.hidden) {
            plan();
          }
        }
      });
  }

  var form = document.getElementById("filters");
  if (form) {
    form.addEventListener("change", function (event) {
      if (event.target && event.target.multiple) {
        return; // several may be picked: applied with the button
      }
      abort();
      form.requestSubmit();
    });
    form.addEventListener("submit", abort);
  }
  window.addEventListener("pagehide", abort);
  if (seconds > 0) {
    stamp("updates every " + seconds + " s");
    plan();
    document.addEventListener("visibilitychange", function () {
      if (document.hidden) {
        window.clearTimeout(timer);
        abort();
      } else {
        refresh();
      }
    });
  }
})();
