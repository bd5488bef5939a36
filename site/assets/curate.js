/* The Packages and OS pages: rows come from a JSON file, drawn with textContent (never innerHTML),
   filtered by name and OS in the browser. Only the first PAGE matching rows are drawn at a time, so a
   10,000-project catalog stays responsive. No other host is ever contacted. */
(function () {
  "use strict";
  var PAGE = 200;
  var OS_LABELS = { linux: "Linux", windows: "Windows", macos: "macOS" };

  function normalize(name) {
    return name.toLowerCase().replace(/[-_.]+/g, "-");
  }

  function el(tag, text, cls) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = text;
    if (cls) node.className = cls;
    return node;
  }

  function link(href, text) {
    var a = el("a", text);
    a.href = href;
    return a;
  }

  function setup(root) {
    var src = root.getAttribute("data-src");
    var base = root.getAttribute("data-base");
    var fixedOs = root.getAttribute("data-os");
    var input = root.querySelector(".curate-filter");
    var select = root.querySelector(".curate-os-filter");
    var tbody = root.querySelector(".curate-rows");
    var count = root.querySelector(".curate-count");
    var moreWrap = root.querySelector(".curate-more-wrap");
    var more = root.querySelector(".curate-more");
    var doc = null;
    var matches = [];
    var shown = 0;

    var params = new URLSearchParams(window.location.search);
    if (input && params.get("q")) input.value = params.get("q");
    if (select && params.get("os")) select.value = params.get("os");

    function rowOf(item) {
      var tr = el("tr");
      var name = item[0];
      tr.setAttribute("data-name", normalize(name));
      var td = el("td");
      td.appendChild(link(base + normalize(name) + "/", name));
      tr.appendChild(td);
      if (fixedOs) {
        tr.appendChild(el("td", item[1].join(", ")));
        return tr;
      }
      tr.appendChild(el("td", item[1]));
      tr.appendChild(el("td", item[2]));
      tr.appendChild(el("td", item[3]));
      var oses = [];
      doc.os.forEach(function (o, i) {
        if (item[4] & (1 << i)) oses.push(OS_LABELS[o] || o);
      });
      var osCell = el("td", oses.join(", "));
      osCell.className = "curate-os-cell";
      tr.appendChild(osCell);
      return tr;
    }

    function draw(reset) {
      if (reset) {
        while (tbody.firstChild) tbody.removeChild(tbody.firstChild);
        shown = 0;
      }
      var frag = document.createDocumentFragment();
      var end = Math.min(matches.length, shown + PAGE);
      for (var i = shown; i < end; i++) frag.appendChild(rowOf(matches[i]));
      tbody.appendChild(frag);
      shown = end;
      count.textContent =
        matches.length + " of " + doc.rows.length + " projects" + (shown < matches.length ? " (showing " + shown + ")" : "");
      moreWrap.hidden = shown >= matches.length;
    }

    function filter() {
      var q = input ? input.value.trim().toLowerCase() : "";
      var qn = normalize(q);
      var osBit = -1;
      if (select && select.value) osBit = 1 << doc.os.indexOf(select.value);
      matches = doc.rows.filter(function (item) {
        if (osBit > 0 && !(item[4] & osBit)) return false;
        if (!q) return true;
        if (normalize(item[0]).indexOf(qn) >= 0) return true;
        return !fixedOs && item[2].toLowerCase().indexOf(q) >= 0;
      });
      if (q) {
        // exact and prefix matches first
        matches.sort(function (a, b) {
          return rank(a) - rank(b);
        });
      }
      draw(true);
      function rank(item) {
        var n = normalize(item[0]);
        return n === qn ? 0 : n.indexOf(qn) === 0 ? 1 : n.indexOf(qn) >= 0 ? 2 : 3;
      }
    }

    var timer = null;
    function later() {
      clearTimeout(timer);
      timer = setTimeout(filter, 60);
    }
    if (input) input.addEventListener("input", later);
    if (select) select.addEventListener("change", filter);
    if (more) more.addEventListener("click", function () { draw(false); });

    fetch(src, { credentials: "same-origin" })
      .then(function (r) {
        if (!r.ok) throw new Error(src + ": HTTP " + r.status);
        return r.json();
      })
      .then(function (data) {
        doc = data;
        root.classList.add("curate-ready");
        filter();
      })
      .catch(function (err) {
        count.textContent = "Could not load the list (" + err.message + ").";
      });
  }

  function init() {
    var lists = document.querySelectorAll(".curate-list");
    for (var i = 0; i < lists.length; i++) setup(lists[i]);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
