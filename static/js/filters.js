// Results filters: apply a toggle as soon as it changes (the "Update results" button
// stays for keyboards and for pages without JavaScript).
(function () {
  "use strict";
  var form = document.getElementById("filters");
  if (!form) { return; }
  form.addEventListener("change", function (event) {
    if (event.target && event.target.type === "checkbox") { form.submit(); }
  });
}());
