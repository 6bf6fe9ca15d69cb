/* The opening-hours editor of the facility form: day chips, shortcuts, more rows and ranges,
 * and the live "week in words" preview.
 *
 * The server composes and checks the OSM opening_hours value (locator/core/hours_editor.py):
 * this script only adds conveniences to a form that works without it — the 工作日 / 周末
 * shortcut chips, "add a time range", "add days with other hours", greying out times of a
 * row marked 24 hours or closed, choosing the editor or the raw value by what was touched
 * last, and asking the server for the preview (an escaped HTML fragment) as things change.
 */
(function () {
  "use strict";
  var box = document.getElementById("hours-editor");
  if (!box) { return; }
  var raw = document.getElementById("opening_hours");
  var modeEditor = document.getElementById("hours-mode-editor");
  var modeRaw = document.getElementById("hours-mode-raw");
  var preview = document.getElementById("hours-preview");
  var previewButton = document.getElementById("hours-preview-button");
  var addRow = document.getElementById("hours-add-row");
  var maxRows = parseInt(box.dataset.maxRows || "8", 10);
  var timer = null;

  function rows() { return Array.prototype.slice.call(box.querySelectorAll(".hours-row")); }

  function syncRow(row) {
    row.querySelectorAll(".shortcut").forEach(function (button) {
      var days = button.dataset.days.split(",");
      var all = days.every(function (d) {
        var input = row.querySelector("input[value='" + d + "'][name$='_days']");
        return input && input.checked;
      });
      button.setAttribute("aria-pressed", all ? "true" : "false");
    });
    var allday = row.querySelector("input.allday");
    var closed = row.querySelector("input.closed");
    var off = (allday && allday.checked) || (closed && closed.checked);
    row.querySelectorAll("input[type=time]").forEach(function (input) { input.disabled = off; });
    var add = row.querySelector(".add-span");
    if (add) { add.disabled = off; }
  }

  function wireRow(row) {
    row.querySelectorAll(".shortcut").forEach(function (button) {
      button.hidden = false;
      button.addEventListener("click", function () {
        var inputs = button.dataset.days.split(",").map(function (d) {
          return row.querySelector("input[value='" + d + "'][name$='_days']");
        }).filter(Boolean);
        var all = inputs.every(function (i) { return i.checked; });
        inputs.forEach(function (i) { i.checked = !all; });
        changed(true);
      });
    });
    var add = row.querySelector(".add-span");
    if (add) {
      add.hidden = false;
      add.addEventListener("click", function () {
        var spans = row.querySelector(".spans");
        var last = spans.lastElementChild;
        var copy = last.cloneNode(true);
        copy.querySelectorAll("input").forEach(function (i) { i.value = ""; });
        spans.appendChild(copy);
        var first = copy.querySelector("input");
        if (first) { first.focus(); }
      });
    }
    syncRow(row);
  }

  function renumber(row, n) {
    row.dataset.row = String(n);
    row.setAttribute("aria-labelledby", "hrow-" + n);
    var label = row.querySelector(".row-label");
    if (label) {
      label.id = "hrow-" + n;
      label.textContent = label.textContent.replace(/\d+/, String(n + 1));
    }
    row.querySelectorAll("[name]").forEach(function (input) {
      input.name = input.name.replace(/^h\d+_/, "h" + n + "_");
    });
  }

  if (addRow) {
    addRow.hidden = false;
    addRow.addEventListener("click", function () {
      var all = rows();
      if (all.length >= maxRows) { addRow.disabled = true; return; }
      var last = all[all.length - 1];
      var copy = last.cloneNode(true);
      copy.querySelectorAll("input[type=checkbox]").forEach(function (i) { i.checked = false; });
      var spans = copy.querySelectorAll(".span");
      for (var k = 1; k < spans.length; k += 1) { spans[k].remove(); }
      copy.querySelectorAll("input[type=time]").forEach(function (i) { i.value = ""; i.disabled = false; });
      copy.querySelectorAll(".shortcut, .add-span").forEach(function (b) {
        var fresh = b.cloneNode(true);  // drop the listeners of the copied row
        b.replaceWith(fresh);
      });
      renumber(copy, all.length);
      last.after(copy);
      wireRow(copy);
      if (all.length + 1 >= maxRows) { addRow.disabled = true; }
      var chip = copy.querySelector(".chip input");
      if (chip) { chip.focus(); }
    });
  }
  rows().forEach(wireRow);
  if (previewButton) { previewButton.hidden = true; }  // the preview follows every change

  function params() {
    var out = new URLSearchParams();
    if (modeRaw && modeRaw.checked) {
      out.set("value", raw ? raw.value : "");
      return out;
    }
    out.set("hours_mode", "editor");
    box.querySelectorAll("input").forEach(function (input) {
      if (!input.name || input.disabled || input.name === "opening_hours" || input.name === "hours_mode") { return; }
      if ((input.type === "checkbox" || input.type === "radio") && !input.checked) { return; }
      out.append(input.name, input.value);
    });
    return out;
  }

  function refresh() {
    fetch(box.dataset.previewUrl + "?" + params().toString(), { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : ""; })
      .then(function (html) {
        if (!html) { return; }
        preview.innerHTML = html;  // server-rendered, escaped
        var composed = document.getElementById("hours-composed");
        if (composed && composed.dataset.valid === "1" && modeEditor && modeEditor.checked && raw) {
          raw.value = composed.dataset.value;
        }
        box.dataset.previewed = String(Date.now());
      })
      .catch(function () { /* the server checks again on save */ });
  }

  function changed(fromEditor) {
    if (fromEditor && modeEditor) { modeEditor.checked = true; }
    rows().forEach(syncRow);
    clearTimeout(timer);
    timer = setTimeout(refresh, 250);
  }

  box.addEventListener("change", function (e) {
    var t = e.target;
    if (t === raw) { return; }
    if (t === modeEditor || t === modeRaw) { changed(false); return; }
    changed(true);
  });
  box.addEventListener("input", function (e) {
    var t = e.target;
    if (t === raw) {
      if (modeRaw) { modeRaw.checked = true; }
      changed(false);
    } else if (t.type === "time") {
      changed(true);
    }
  });
})();
