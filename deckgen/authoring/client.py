"""The live preview's script: applies the server's updates to the open page without reloading it.

Updates arrive as server-sent events (``/events``), one JSON patch per rebuild (see ``live.Patch``):
the changed articles replace their old selves, the order is rebuilt only when cards were added,
removed or moved, the problem banner is redrawn, and MathJax typesets only the new articles. The
card at the top of the window stays where it was on screen, so an edit far above the one being
read does not make the page jump. The page records what it shows in ``<html data-version>``
(and ``data-mathjax="done"`` once math is typeset), which the browser tests wait for.

If the page missed an update (the connection dropped, the server restarted), the server says
``reload`` and the page reloads itself, scrolled back to where it was.
"""

LIVE_JS = r"""
(function () {
  var root = document.documentElement, KEY = "deckgen-serve-scroll";
  var status = document.getElementById("pv-status");
  function typeset(elements) {
    var mj = window.MathJax;
    if (!mj || !mj.startup || !mj.startup.promise) return Promise.resolve();  // not loaded: startup typesets all
    return mj.startup.promise.then(function () { return mj.typesetPromise(elements); });
  }
  function anchor() {
    var cards = document.querySelectorAll("main .pv-card");
    for (var i = 0; i < cards.length; i++) {
      var r = cards[i].getBoundingClientRect();
      if (r.bottom > 0) return { id: cards[i].id, top: r.top };
    }
    return null;
  }
  function restore(a) {
    var el = a && document.getElementById(a.id);
    if (el) window.scrollBy(0, el.getBoundingClientRect().top - a.top);
  }
  function parse(html) {
    var t = document.createElement("template");
    t.innerHTML = html;
    return t.content.firstElementChild;
  }
  function section(name, title) {
    var s = document.getElementById("topic-" + name);
    if (!s) {
      s = document.createElement("section");
      s.className = "pv-topic";
      s.id = "topic-" + name;
      s.appendChild(document.createElement("h2"));
    }
    s.querySelector("h2").textContent = title;
    return s;
  }
  function relayout(layout, fresh) {
    var main = document.querySelector("main"), keep = {}, toc = document.getElementById("pv-toc");
    toc.textContent = "";
    layout.forEach(function (t) {
      var s = section(t[0], t[1]);
      main.appendChild(s);
      var prev = s.querySelector("h2");
      t[2].forEach(function (id) {
        var el = fresh[id] || document.getElementById(id);
        keep[id] = true;
        if (el && prev.nextElementSibling !== el) prev.after(el);
        if (el) prev = el;
      });
      keep["topic-" + t[0]] = true;
      var a = document.createElement("a");
      a.href = "#topic-" + t[0];
      a.textContent = t[1];
      toc.appendChild(a);
    });
    main.querySelectorAll(".pv-topic, .pv-card").forEach(function (el) {
      if (!keep[el.id]) { clear([el]); el.remove(); }
    });
  }
  function clear(elements) {
    var mj = window.MathJax;
    if (mj && mj.typesetClear) mj.typesetClear(elements);
  }
  function banner(problems) {
    var b = document.getElementById("pv-problems");
    b.hidden = problems.length === 0;
    var n = problems.length;
    b.querySelector("strong").textContent =
      n ? n + (n === 1 ? " problem" : " problems") + ": the cards below are the last good ones" : "";
    var ul = b.querySelector("ul");
    ul.textContent = "";
    problems.forEach(function (p) {
      var li = document.createElement("li");
      li.textContent = p;
      ul.appendChild(li);
    });
  }
  function apply(p, id) {
    var a = anchor(), fresh = {}, added = [];
    Object.keys(p.articles).forEach(function (key) {
      var el = parse(p.articles[key]), old = document.getElementById(key);
      el.classList.add("pv-fresh");
      if (old) { clear([old]); old.replaceWith(el); }
      fresh[key] = el;
      added.push(el);
    });
    if (p.layout) relayout(p.layout, fresh);
    banner(p.problems);
    document.getElementById("pv-count").textContent = p.count;
    restore(a);
    root.dataset.mathjax = "pending";
    return typeset(added).then(function () {
      restore(a);
      root.dataset.version = id;
      root.dataset.mathjax = "done";
      setTimeout(function () { added.forEach(function (el) { el.classList.remove("pv-fresh"); }); }, 1500);
    });
  }
  try {
    var saved = JSON.parse(sessionStorage.getItem(KEY) || "null");
    sessionStorage.removeItem(KEY);
    if (saved) typeset([]).then(function () { window.scrollTo(0, saved); });
  } catch (e) {}
  var source = new EventSource("events?since=" + encodeURIComponent(root.dataset.version));
  var queue = Promise.resolve();
  source.onmessage = function (ev) {
    var p = JSON.parse(ev.data);
    if (p.reload) {
      try { sessionStorage.setItem(KEY, JSON.stringify(window.scrollY)); } catch (e) {}
      source.close();
      location.reload();
      return;
    }
    queue = queue.then(function () { return apply(p, ev.lastEventId); });  // one at a time, in order
  };
  source.addEventListener("status", function (ev) {  // the server is rebuilding after a save
    var busy = JSON.parse(ev.data).busy;
    status.textContent = busy ? busy + " ..." : "live";
  });
  source.onopen = function () { status.textContent = "live"; status.classList.remove("pv-off"); };
  source.onerror = function () { status.textContent = "disconnected (retrying)"; status.classList.add("pv-off"); };
})();
"""
