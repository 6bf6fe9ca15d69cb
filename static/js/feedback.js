// One-tap feedback without leaving the page: post the form to the JSON API and say
// thank you. Without JavaScript the same forms post to the page route and come back.
(function () {
  "use strict";
  if (!window.fetch) { return; }
  document.querySelectorAll("form.fb-form").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var status = form.querySelector(".fb-status");
      var button = form.querySelector("button[type=submit]");
      var data = new FormData(form);
      var body = {
        verdict: data.get("verdict") || "",
        reason: data.get("reason") || "",
        comment: data.get("comment") || ""
      };
      button.disabled = true;
      fetch(form.dataset.api, {
        method: "POST",
        headers: { "Content-Type": "application/json", "Accept": "application/json" },
        body: JSON.stringify(body),
        credentials: "same-origin"
      }).then(function (r) {
        if (r.status === 201) {
          status.textContent = body.verdict === "confirm" ? form.dataset.msgConfirm : form.dataset.msgProblem;
          return;
        }
        button.disabled = false;
        status.textContent = r.status === 429 ? form.dataset.msgLimit : form.dataset.msgError;
      }).catch(function () {
        button.disabled = false;
        status.textContent = form.dataset.msgError;
      });
    });
  });
}());
