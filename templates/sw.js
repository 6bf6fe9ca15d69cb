/* Service worker of the warm station locator (served at /sw.js, scope /).
   App shell: cache first. Results pages (/nearest, /lite) and facility pages: network
   first, stored for offline use, each results page with the facility pages of its list.
   Offline, a request is answered only with what matches it:
     - a results page: a saved results page of the same kind (/nearest or /lite), the same
       kind filter, needs and "open now", from a position within 250 m;
     - a facility page: that facility's page, saved with a shortlist or visited;
     - the start page: the app shell.
   Anything else gets the offline page, which says that this search is not saved and
   links to the last saved one (kind, needs, place, time). A saved page is served with
   data-offline="1" ("saved at HH:MM, may be out of date"). The API is never cached.
   See locator/http/blueprints/offline.py and docs/riders.md. */
"use strict";
var VERSION = {{ version|tojson }};
var SHELL = "locator-shell-" + VERSION;
var RESULTS = "locator-results";
var SAVED = "/__saved-searches__";
var OFFLINE = {{ offline_url|tojson }};
var KEEP = {{ results_kept|int }};
var FACILITIES_PER_LIST = {{ facilities_kept|int }};
var MATCH_M = 250;
var SHELL_URLS = {{ shell_urls|tojson }};

self.addEventListener("install", function (event) {
  event.waitUntil(caches.open(SHELL).then(function (cache) {
    return cache.addAll(SHELL_URLS);
  }).then(function () { return self.skipWaiting(); }));
});

self.addEventListener("activate", function (event) {
  event.waitUntil(caches.keys().then(function (keys) {
    return Promise.all(keys.filter(function (k) {
      return k.indexOf("locator-shell-") === 0 && k !== SHELL;
    }).map(function (k) { return caches.delete(k); }));
  }).then(function () { return self.clients.claim(); }));
});

function isResults(url) { return url.pathname === "/nearest" || url.pathname === "/lite"; }
function isFacility(url) { return url.pathname.indexOf("/facility/") === 0; }
function isStorable(url) { return isResults(url) || isFacility(url); }

/* What a results URL asks for: the same answer needs the same path, filters and datum,
   and a position within MATCH_M metres. Pages default to open_now=true; the last value
   wins (a hidden "false" before a checked "true"). */
function query(url) {
  var p = url.searchParams;
  function list(name) {
    var items = [];
    p.getAll(name).forEach(function (v) { v.split(",").forEach(function (x) { x = x.trim(); if (x && items.indexOf(x) < 0) { items.push(x); } }); });
    return items.sort().join(",");
  }
  var open = p.getAll("open_now");
  return {
    path: url.pathname,
    kind: list("kind"),
    amenity: list("amenity"),
    open_now: open.length ? open[open.length - 1].toLowerCase() : "true",
    datum: (p.get("datum") || "wgs84").toLowerCase(),
    lon: parseFloat(p.get("lon")),
    lat: parseFloat(p.get("lat"))
  };
}

function metres(a, b) {  // haversine on the mean radius: plenty for "within 250 m"
  var r = 6371008.8, rad = Math.PI / 180;
  var dlat = (b.lat - a.lat) * rad, dlon = (b.lon - a.lon) * rad;
  var h = Math.sin(dlat / 2) * Math.sin(dlat / 2) +
    Math.cos(a.lat * rad) * Math.cos(b.lat * rad) * Math.sin(dlon / 2) * Math.sin(dlon / 2);
  return 2 * r * Math.asin(Math.min(1, Math.sqrt(h)));
}

function sameQuestion(a, b) {
  if (a.path !== b.path || a.kind !== b.kind || a.amenity !== b.amenity) { return false; }
  if (a.open_now !== b.open_now || a.datum !== b.datum) { return false; }
  if (!isFinite(a.lon) || !isFinite(a.lat) || !isFinite(b.lon) || !isFinite(b.lat)) { return false; }
  return metres(a, b) <= MATCH_M;
}

function readSaved(cache) {
  return cache.match(SAVED).then(function (r) { return r ? r.json() : []; }).catch(function () { return []; });
}

function writeSaved(cache, list) {
  return cache.put(SAVED, new Response(JSON.stringify(list), { headers: { "Content-Type": "application/json" } }));
}

function meta(html) {
  var m = /<meta name="locator-search" content="([^"]*)"/.exec(html);
  if (!m) { return null; }
  var text = m[1].replace(/&#34;|&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&");
  try { return JSON.parse(text); } catch (e) { return null; }
}

function facilityLinks(html, base) {
  var out = [], re = /<li [^>]*data-facility-id="([^"]+)"/g, m;
  while ((m = re.exec(html)) && out.length < FACILITIES_PER_LIST) {
    out.push(new URL("/facility/" + m[1], base).href);  // ids are URL-safe ([A-Za-z0-9._:-])
  }
  return out;
}

/* Keep the KEEP most recent results pages with their facility pages, and the
   OTHER_FACILITIES most recent facility pages visited on their own. */
var OTHER_FACILITIES = 10;
function prune(cache) {
  return readSaved(cache).then(function (list) {
    var keep = list.slice(-KEEP);
    var wanted = {};
    keep.forEach(function (s) { wanted[s.url] = 1; (s.facilities || []).forEach(function (f) { wanted[f] = 1; }); });
    return writeSaved(cache, keep).then(function () { return cache.keys(); }).then(function (keys) {
      var others = keys.filter(function (k) { return isFacility(new URL(k.url)) && !wanted[k.url]; });
      var drop = keys.filter(function (k) { return isResults(new URL(k.url)) && !wanted[k.url]; })
        .concat(others.slice(0, Math.max(0, others.length - OTHER_FACILITIES)));
      return Promise.all(drop.map(function (k) { return cache.delete(k); }));
    });
  });
}

function store(request, response) {
  var url = new URL(request.url);
  return caches.open(RESULTS).then(function (cache) {
    if (!isResults(url)) {
      return cache.put(request.url, response).then(function () { return prune(cache); });
    }
    return response.clone().text().then(function (html) {
      var info = meta(html) || {};
      var facilities = facilityLinks(html, url);
      return cache.put(request.url, response).then(function () {
        return Promise.all(facilities.map(function (f) {
          return fetch(f, { credentials: "same-origin" }).then(function (r) {
            return r.ok ? cache.put(f, r) : null;
          }).catch(function () { return null; });
        }));
      }).then(function () { return readSaved(cache); }).then(function (list) {
        list = list.filter(function (s) { return s.url !== request.url; });
        list.push({ url: request.url, q: query(url), info: info, facilities: facilities });
        return writeSaved(cache, list);
      }).then(function () { return prune(cache); });
    });
  });
}

function markOffline(response) {
  return response.text().then(function (html) {
    return new Response(html.replace('data-offline="0"', 'data-offline="1"'), {
      status: 200,
      headers: { "Content-Type": "text/html; charset=utf-8" }
    });
  });
}

function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, function (c) {
    return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
  });
}

function offlinePage(cache) {
  return caches.match(OFFLINE).then(function (page) {
    if (!page) { return Response.error(); }
    return Promise.all([page.text(), readSaved(cache)]).then(function (parts) {
      var html = parts[0], list = parts[1], last = list[list.length - 1];
      if (last) {
        var info = last.info || {};
        var words = [info.label, info.place, info.time].filter(Boolean).map(escapeHtml).join(" · ");
        html = html.replace("<!--last-saved-->",
          '<p class="saved" id="last-saved"><a href="' + escapeHtml(last.url) + '">' + (words || escapeHtml(last.url)) + "</a></p>");
      }
      return new Response(html.replace('data-offline="0"', 'data-offline="1"'), {
        status: 200,
        headers: { "Content-Type": "text/html; charset=utf-8" }
      });
    });
  });
}

function offlineAnswer(request) {
  var url = new URL(request.url);
  return caches.open(RESULTS).then(function (cache) {
    if (isResults(url)) {
      var want = query(url);
      return readSaved(cache).then(function (list) {
        for (var i = list.length - 1; i >= 0; i--) {
          if (sameQuestion(want, list[i].q)) {
            return cache.match(list[i].url).then(function (hit) { return hit ? markOffline(hit) : offlinePage(cache); });
          }
        }
        return offlinePage(cache);
      });
    }
    if (isFacility(url)) {
      return cache.match(request.url).then(function (hit) {
        if (hit) { return markOffline(hit); }
        return cache.keys().then(function (keys) {
          var same = keys.filter(function (k) { return new URL(k.url).pathname === url.pathname; });
          return same.length ? cache.match(same[0]).then(markOffline) : offlinePage(cache);
        });
      });
    }
    if (url.pathname === "/") {
      return caches.match(request, { ignoreSearch: true }).then(function (shell) { return shell || offlinePage(cache); });
    }
    return offlinePage(cache);
  });
}

self.addEventListener("fetch", function (event) {
  var request = event.request;
  if (request.method !== "GET") { return; }
  var url = new URL(request.url);
  if (url.origin !== self.location.origin || url.pathname.indexOf("/api/") === 0) { return; }
  if (request.mode === "navigate") {
    event.respondWith(fetch(request).then(function (response) {
      if (response.ok && isStorable(url)) {
        event.waitUntil(store(request, response.clone()));
      }
      return response;
    }).catch(function () { return offlineAnswer(request); }));
    return;
  }
  if (url.pathname.indexOf("/static/") === 0 || url.pathname === "/manifest.webmanifest") {
    event.respondWith(caches.match(request).then(function (hit) {
      return hit || fetch(request).then(function (response) {
        if (response.ok) {
          var copy = response.clone();
          event.waitUntil(caches.open(SHELL).then(function (c) { return c.put(request, copy); }));
        }
        return response;
      });
    }));
  }
});

self.addEventListener("message", function (event) {
  var data = event.data || {};
  if (data.type !== "save-results" || !data.url) { return; }
  var url = new URL(data.url, self.location.origin);
  if (url.origin !== self.location.origin || !isStorable(url)) { return; }
  var request = new Request(url.href, { credentials: "same-origin" });
  event.waitUntil(fetch(request).then(function (response) {
    if (!response.ok) { return; }
    return store(request, response).then(function () {
      if (event.source) { event.source.postMessage({ type: "saved", url: url.href }); }
    });
  }).catch(function () { /* offline already: nothing to save */ }));
});
