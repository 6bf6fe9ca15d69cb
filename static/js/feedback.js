// One-tap feedback and check-ins without leaving the page: post the form to the JSON API,
// say thank you where the rider is looking, and reset the form. Without JavaScript the
// same forms post to the page routes and come back (303) with the thank-you.
(function () {
  "use strict";
  if (!window.fetch) { return; }

  function post(url, body) {
    return fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json", "Accept": "application/json" },
      body: JSON.stringify(body),
      credentials: "same-origin"
    });
  }

  function show(status) {
    // The confirmation comes into view and is announced (role=status).
    if (status.scrollIntoView) { status.scrollIntoView({ block: "nearest" }); }
  }

  document.querySelectorAll("form.fb-form").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var status = form.querySelector(".fb-status");
      var button = form.querySelector("button[type=submit]");
      var data = new FormData(form);
      var body = { verdict: data.get("verdict") || "", reason: data.get("reason") || "", comment: data.get("comment") || "" };
      button.disabled = true;
      post(form.dataset.api, body).then(function (r) {
        button.disabled = false;
        if (r.status === 201) {
          status.textContent = body.verdict === "confirm" ? form.dataset.msgConfirm : form.dataset.msgProblem;
          if (body.verdict === "problem") {
            form.reset();
            var list = document.getElementById("recent-reports");
            var label = form.querySelector('input[name=reason][value="' + body.reason + '"]');
            if (list && label) {
              var li = document.createElement("li");
              li.textContent = label.parentNode.textContent.trim() + " · " + (list.dataset.msgNow || "");
              list.insertBefore(li, list.firstChild);
              list.closest(".problems").hidden = false;
            }
          }
          show(status);
          return;
        }
        status.textContent = r.status === 429 ? form.dataset.msgLimit : form.dataset.msgError;
        show(status);
      }).catch(function () {
        button.disabled = false;
        status.textContent = form.dataset.msgError;
        show(status);
      });
    });
  });

  document.querySelectorAll("form.checkin").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var submitter = event.submitter || form.querySelector("button[type=submit]");
      var door = submitter.value;
      var status = form.querySelector(".ci-status");
      var buttons = form.querySelectorAll("button");
      buttons.forEach(function (b) { b.disabled = true; });
      post(form.dataset.api, { door: door }).then(function (r) {
        buttons.forEach(function (b) { b.disabled = false; });
        if (r.status === 201) {
          status.textContent = form.getAttribute("data-msg-" + door);
          // The station's entry shows the report at once.
          var item = form.closest("li.result, article.facility, li[data-facility-id]");
          if (item && door !== "scan_required") {
            var line = item.querySelector(".live");
            if (!line) {
              line = document.createElement("p");
              line.setAttribute("role", "note");
              var hours = item.querySelector(".hours");
              if (hours) { hours.parentNode.insertBefore(line, hours.nextSibling); } else { item.appendChild(line); }
            }
            line.className = "live live-" + (door === "open" ? "confirmed-open" : "reported-locked");
            line.textContent = form.getAttribute("data-msg-" + door);
          }
        } else {
          status.textContent = r.status === 429 ? form.dataset.msgLimit : form.dataset.msgError;
        }
        show(status);
      }).catch(function () {
        buttons.forEach(function (b) { b.disabled = false; });
        status.textContent = form.dataset.msgError;
        show(status);
      });
    });
  });
}());
