/* Service worker of the warm station locator (served at /sw.js, scope /).
   App shell: cache first. Results pages (/nearest, /lite, /facility/…): network first,
   stored for offline use; offline, a stored copy is served with data-offline="1".
   The API is never cached. See locator/http/blueprints/offline.py and docs/riders.md. */
"use strict";
var VERSION = {{ version|tojson }};
var SHELL = "locator-shell-" + VERSION;
var RESULTS = "locator-results";
var LAST = "/__last-results__";
var KEEP = {{ results_kept|int }};
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

function isResults(url) {
  return url.pathname === "/nearest" || url.pathname === "/lite";
}
function isStorable(url) {
  return isResults(url) || url.pathname.indexOf("/facility/") === 0;
}

function store(request, response) {
  var url = new URL(request.url);
  return caches.open(RESULTS).then(function (cache) {
    var jobs = [cache.put(request.url, response.clone())];
    if (isResults(url)) { jobs.push(cache.put(LAST, response.clone())); }
    return Promise.all(jobs).then(function () { return cache.keys(); }).then(function (keys) {
      var pages = keys.filter(function (k) { return new URL(k.url).pathname !== LAST; });
      var extra = pages.slice(0, Math.max(0, pages.length - KEEP));
      return Promise.all(extra.map(function (k) { return cache.delete(k); }));
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

function fromStore(request) {
  return caches.open(RESULTS).then(function (cache) {
    return cache.match(request.url).then(function (hit) {
      if (hit) { return hit; }
      return isResults(new URL(request.url)) ? cache.match(LAST) : undefined;
    });
  });
}

function offlineFallback(request) {
  return fromStore(request).then(function (hit) {
    if (hit) { return markOffline(hit); }
    return caches.match(request, { ignoreSearch: true }).then(function (shell) {
      if (shell) { return shell; }
      return caches.open(RESULTS).then(function (c) { return c.match(LAST); }).then(function (last) {
        return last ? markOffline(last) : Response.error();
      });
    });
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
    }).catch(function () { return offlineFallback(request); }));
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
