/* Gongshi search: one box for subjects (by name, code or document number) and the site's pages.
 *
 * Loaded on every page by the header search box (templates/mkdocs/partials/search.html): it opens
 * and closes that box like Material's own search did. On the search page (site_src/search.md) it
 * answers ?q=… from the static index in <site root>/searchindex/ (format: generator/outputs/search.py)
 * and from Material's search/search_index.json. Nothing from an index is inserted as HTML: names
 * and texts go in as text nodes.
 *
 * The pure logic (normalise, fnv1a32, grams, shard choice, merging, the query runner over a loader)
 * is exported for node when `module` exists, so tests run the same code against written shards.
 */
(function (factory) {
  "use strict";
  var api = factory();
  if (typeof module === "object" && module.exports) {
    module.exports = api;
  }
  if (typeof window !== "undefined" && typeof document !== "undefined") {
    api.start(document, window);
  }
})(function () {
  "use strict";

  var OPENING = "〔【〖﹝﹙［（[(";
  var CLOSING = "〕】〗﹞﹚］）])";
  var PAGE_SIZE = 50; // results shown at once; "显示更多" adds as many again
  var FIRST_GRAMS = 4; // name grams looked up first; more only while every list found is truncated
  var SORTED_LIMIT = 50; // code and document results taken from the sorted shards
  var SORTED_SHARDS = 2; // sorted shards read per query at most ...
  var SORTED_ENOUGH = 10; // ... the second only while fewer results than this were found
  var PAGE_ID = /^[0-9A-Z]{1,40}$/;
  var RECORD_ID = /^[0-9A-Za-z_-]{1,64}$/;

  // ------------------------------------------------------------------------------------------
  // Normalisation and hashing: the same as generator/outputs/search.py

  function isRemoved(cp) {
    return cp <= 0x20 || cp === 0x7f || (cp >= 0x80 && cp <= 0xa0) || cp === 0x1680 ||
      (cp >= 0x2000 && cp <= 0x200b) || cp === 0x2028 || cp === 0x2029 || cp === 0x202f ||
      cp === 0x205f || cp === 0x3000 || cp === 0xfeff;
  }

  /** The code point ``cp`` becomes, or -1 when it is removed. */
  function mapCodePoint(cp) {
    if (isRemoved(cp)) return -1;
    var ch = String.fromCodePoint(cp);
    if (OPENING.indexOf(ch) >= 0) return 0x28;
    if (CLOSING.indexOf(ch) >= 0) return 0x29;
    if (cp >= 0xff01 && cp <= 0xff5e) cp -= 0xfee0;
    if (cp >= 0x61 && cp <= 0x7a) cp -= 32;
    return cp;
  }

  /** Full-width → half-width, one kind of bracket, no whitespace, upper-case ASCII letters. */
  function normalise(text) {
    var out = "";
    for (var ch of String(text)) {
      var cp = mapCodePoint(ch.codePointAt(0));
      if (cp >= 0) out += String.fromCodePoint(cp);
    }
    return out;
  }

  /** normalise() with, per UTF-16 unit of the result, where its character starts and ends in ``text``. */
  function normaliseWithMap(text) {
    var out = "";
    var starts = [];
    var ends = [];
    var at = 0;
    for (var ch of String(text)) {
      var cp = mapCodePoint(ch.codePointAt(0));
      if (cp >= 0) {
        var mapped = String.fromCodePoint(cp);
        out += mapped;
        for (var i = 0; i < mapped.length; i++) {
          starts.push(at);
          ends.push(at + ch.length);
        }
      }
      at += ch.length;
    }
    return { text: out, starts: starts, ends: ends };
  }

  var encoder = typeof TextEncoder !== "undefined" ? new TextEncoder() : null;

  function utf8(text) {
    if (encoder) return encoder.encode(text);
    return Buffer.from(text, "utf8");
  }

  /** FNV-1a, 32 bits, over the UTF-8 bytes of ``text``. */
  function fnv1a32(text) {
    var bytes = utf8(text);
    var h = 0x811c9dc5;
    for (var i = 0; i < bytes.length; i++) {
      h ^= bytes[i];
      h = Math.imul(h, 0x01000193);
    }
    return h >>> 0;
  }

  /** The grams a normalised query is looked up by: its one character, or its distinct bigrams. */
  function grams(qn) {
    var chars = Array.from(qn);
    if (chars.length === 1) return chars;
    var out = [];
    for (var i = 0; i + 1 < chars.length; i++) {
      var g = chars[i] + chars[i + 1];
      if (out.indexOf(g) < 0) out.push(g);
    }
    return out;
  }

  /** Grams in the order to look them up: the first, the last, evenly spaced ones, then the rest. */
  function pickOrder(list, first) {
    var n = list.length;
    var k = Math.min(first || FIRST_GRAMS, n);
    var chosen = [];
    for (var i = 0; i < k; i++) {
      var index = k === 1 ? 0 : Math.round(i * (n - 1) / (k - 1));
      if (chosen.indexOf(index) < 0) chosen.push(index);
    }
    for (var j = 0; j < n; j++) {
      if (chosen.indexOf(j) < 0) chosen.push(j);
    }
    return chosen.map(function (index) { return list[index]; });
  }

  function shardOf(gram, shards) {
    return fnv1a32(gram) % shards;
  }

  /** The file holding a long list: pack ``pack`` of directory shard ``shard``. */
  function packPath(shard, pack) {
    return "n/" + shard + "-" + pack + ".json";
  }

  /** Compare by Unicode code point (as the index is sorted), not by UTF-16 unit. */
  function compareKeys(a, b) {
    var n = Math.min(a.length, b.length);
    for (var i = 0; i < n; i++) {
      var x = a.charCodeAt(i);
      var y = b.charCodeAt(i);
      if (x !== y) {
        if (x >= 0xd800 && y >= 0xd800) {
          x = x >= 0xe000 ? x - 0x800 : x + 0x2000;
          y = y >= 0xe000 ? y - 0x800 : y + 0x2000;
        }
        return x - y;
      }
    }
    return a.length - b.length;
  }

  /** The index of the last key < p in sorted ``keys``, or -1. */
  function lastBelow(keys, p) {
    var lo = 0;
    var hi = keys.length;
    while (lo < hi) {
      var mid = (lo + hi) >> 1;
      if (compareKeys(keys[mid], p) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo - 1;
  }

  /** What a normalised query is looked up as: names unless it is clearly a code (letters and
   * digits, four or more, a digit among them); codes when it is letters and digits only; document
   * numbers when it has a digit or a bracket and is not a short code. */
  function classify(qn) {
    var code = /^[0-9A-Z]{2,}$/.test(qn);
    return {
      names: qn.length > 0 && !(code && qn.length >= 4 && /[0-9]/.test(qn)),
      codes: code,
      docs: qn.length >= 2 && /[0-9()]/.test(qn) && (!code || qn.length >= 6),
    };
  }

  // ------------------------------------------------------------------------------------------
  // Queries over a loader: load(path) → Promise of the parsed JSON file under searchindex/

  /** Subjects whose normalised name contains ``qn``. */
  async function searchNames(qn, meta, load) {
    var info = meta.names;
    var result = { items: [], complete: true, count: 0, gram: "" };
    if (!info || !info.shards || !qn) return result;
    var order = pickOrder(grams(qn));
    var best = null;
    for (var start = 0; start < order.length; start += FIRST_GRAMS) {
      var batch = order.slice(start, start + FIRST_GRAMS);
      var shards = batch.map(function (g) { return shardOf(g, info.shards); });
      var dirs = await Promise.all(shards.map(function (s) { return load("n/" + s + ".json"); }));
      for (var i = 0; i < batch.length; i++) {
        var entry = Object.prototype.hasOwnProperty.call(dirs[i], batch[i]) ? dirs[i][batch[i]] : null;
        if (!entry) return result; // a gram no name has: nothing matches
        if (!best || entry[0] < best.count) best = { gram: batch[i], shard: shards[i], count: entry[0], entry: entry };
      }
      if (best.count <= info.cap) break;
    }
    var list = Array.isArray(best.entry[1]) ? best.entry[1] : (await load(packPath(best.shard, best.entry[1])))[best.gram];
    var seen = new Set();
    for (var e of list) {
      if (!seen.has(e[0]) && normalise(e[1]).indexOf(qn) >= 0) {
        seen.add(e[0]);
        result.items.push(e);
      }
    }
    result.complete = best.count <= info.cap;
    result.count = best.count;
    result.gram = best.gram;
    return result;
  }

  /** Block ``b`` of shard boundaries: its shards' first keys and file names. An index of format 1
   * (still in a browser's cache for a few minutes after a deploy) listed the keys only and named
   * shards by their place. */
  function boundaries(data, b, size) {
    if (!Array.isArray(data)) return data;
    return { keys: data, files: data.map(function (_, i) { return String(b * size + i); }) };
  }

  /** Entries whose key starts with ``p``, from the sorted shards in ``dir`` (c or d). */
  async function searchSorted(p, info, dir, keyOf, load, limit, maxShards) {
    var result = { items: [], more: false };
    if (!info || !info.shards || !p) return result;
    var b = Math.max(0, lastBelow(info.top, p));
    var block = boundaries(await load(dir + "/b" + b + ".json"), b, info.block);
    var j = Math.max(0, lastBelow(block.keys, p));
    var shard = b * info.block + j;
    var read = 0;
    while (shard < info.shards && read < (maxShards || SORTED_SHARDS) && (read === 0 || result.items.length < SORTED_ENOUGH)) {
      if (j === block.files.length) { // on into the next block's shards
        b += 1;
        j = 0;
        block = boundaries(await load(dir + "/b" + b + ".json"), b, info.block);
      }
      var entries = await load(dir + "/" + block.files[j] + ".json");
      shard += 1;
      j += 1;
      read += 1;
      for (var e of entries) {
        var key = keyOf(e);
        if (compareKeys(key, p) < 0) continue;
        if (key.slice(0, p.length) !== p) return result;
        if (result.items.length === (limit || SORTED_LIMIT)) {
          result.more = true;
          return result;
        }
        result.items.push(e);
      }
    }
    result.more = shard < info.shards;
    return result;
  }

  /** A subject result from a code entry [code, name(, page id)] or a name entry [page id, name]. */
  function fromCode(e) {
    return { id: e.length > 2 ? e[2] : e[0], name: e[1], code: e[0] };
  }

  function fromName(e) {
    return { id: e[0], name: e[1], code: e[0].slice(0, 2) === "ZC" ? e[0].slice(2) : e[0] };
  }

  /** Code hits (an exact code first), then name hits; one result per page id. */
  function mergeSubjects(qn, codes, names) {
    var out = [];
    var seen = new Set();
    var exact = codes.filter(function (e) { return e[0] === qn; });
    var rest = codes.filter(function (e) { return e[0] !== qn; });
    exact.concat(rest).map(fromCode).concat(names.map(fromName)).forEach(function (s) {
      if (PAGE_ID.test(s.id) && !seen.has(s.id)) {
        seen.add(s.id);
        out.push(s);
      }
    });
    return out;
  }

  /** Everything the index says about query ``q``. */
  async function searchIndex(q, load) {
    var qn = normalise(q);
    var kinds = classify(qn);
    var answer = { q: q, qn: qn, subjects: [], subjectsComplete: true, documents: [], documentsComplete: true, error: null };
    if (!qn) return answer;
    var meta;
    try {
      meta = await load("meta.json");
    } catch (err) {
      answer.error = err;
      return answer;
    }
    var parts = await Promise.all([
      kinds.names ? searchNames(qn, meta, load) : null,
      kinds.codes ? searchSorted(qn, meta.codes, "c", function (e) { return e[0]; }, load) : null,
      kinds.docs ? searchSorted(qn, meta.docs, "d", function (e) { return normalise(e[0]); }, load) : null,
    ]);
    var names = parts[0];
    var codes = parts[1];
    var docs = parts[2];
    answer.subjects = mergeSubjects(qn, codes ? codes.items : [], names ? names.items : []);
    answer.subjectsComplete = (!names || names.complete) && (!codes || !codes.more);
    answer.nameCount = names ? names.count : 0;
    answer.documents = (docs ? docs.items : []).filter(function (e) {
      return PAGE_ID.test(e[1]) && RECORD_ID.test(e[2]);
    }).map(function (e) {
      var datasets = meta.docs.datasets || [];
      return { doc: e[0], id: e[1], record: e[2], dataset: datasets[e[3]] || "", name: e[4] };
    });
    answer.documentsComplete = !docs || !docs.more;
    return answer;
  }

  // ------------------------------------------------------------------------------------------
  // The site's own pages: Material's search/search_index.json

  var ENTITIES = { amp: "&", lt: "<", gt: ">", quot: "\"", apos: "'", nbsp: " " };

  /** Plain text of an index text (it holds some HTML): tags dropped, entities decoded. */
  function plainText(html) {
    return String(html || "").replace(/<[^>]*>/g, " ").replace(/&(#x[0-9a-f]+|#[0-9]+|[a-z]+);/gi, function (all, name) {
      if (name[0] === "#") {
        var cp = name[1] === "x" || name[1] === "X" ? parseInt(name.slice(2), 16) : parseInt(name.slice(1), 10);
        return cp > 0 && cp <= 0x10ffff ? String.fromCodePoint(cp) : " ";
      }
      return Object.prototype.hasOwnProperty.call(ENTITIES, name.toLowerCase()) ? ENTITIES[name.toLowerCase()] : all;
    }).replace(/\s+/g, " ").trim();
  }

  /** Pages and sections whose title or text contains the query; title matches first. */
  function searchPages(qn, index) {
    var docs = (index && index.docs) || [];
    var titles = {};
    docs.forEach(function (d) {
      if (String(d.location).indexOf("#") < 0) titles[d.location] = plainText(d.title);
    });
    var inTitle = [];
    var inText = [];
    if (!qn) return [];
    docs.forEach(function (d) {
      var title = plainText(d.title);
      var text = plainText(d.text);
      var page = String(d.location).split("#")[0];
      var item = { location: String(d.location), title: title, page: d.location === page ? "" : (titles[page] || ""), text: text };
      if (normalise(title).indexOf(qn) >= 0) inTitle.push(item);
      else if (normalise(text).indexOf(qn) >= 0) inText.push(item);
    });
    return inTitle.concat(inText);
  }

  /** About ``width`` characters of ``text`` around the first match of ``qn``. */
  function snippet(text, qn, width) {
    width = width || 80;
    var m = normaliseWithMap(text);
    var at = qn ? m.text.indexOf(qn) : -1;
    if (at < 0) return text.length > width ? text.slice(0, width) + "…" : text;
    var start = Math.max(0, m.starts[at] - Math.floor(width / 3));
    var end = Math.min(text.length, start + width);
    return (start > 0 ? "…" : "") + text.slice(start, end) + (end < text.length ? "…" : "");
  }

  // ------------------------------------------------------------------------------------------
  // The browser: the header box on every page, the results on the search page

  function siteRoot(doc, win) {
    var config = doc.getElementById("__config");
    if (config) {
      try {
        var base = JSON.parse(config.textContent).base;
        if (typeof base === "string") return new URL(base.replace(/\/?$/, "/"), win.location.href);
      } catch (err) {
        // fall through to the script's own address
      }
    }
    var script = doc.currentScript || doc.querySelector("script[src$='assets/search.js']");
    if (script && script.src) return new URL("../", script.src);
    return new URL("./", win.location.href);
  }

  function loader(base) {
    var cache = new Map();
    return function (path) {
      if (!cache.has(path)) {
        var promise = fetch(new URL(path, base).href, { credentials: "same-origin" }).then(function (response) {
          if (!response.ok) throw new Error(response.status + " " + path);
          return response.json();
        });
        promise.catch(function () { cache.delete(path); });
        cache.set(path, promise);
      }
      return cache.get(path);
    };
  }

  function enhanceHeader(doc, root) {
    var box = doc.querySelector("[data-gongshi-search]");
    var toggle = doc.getElementById("__search");
    var input = box && box.querySelector("input[name=q]");
    if (!input || !toggle) return null;
    // the form's relative action is right for the page it was rendered on; pages that reuse the
    // theme's page at another depth get the search page's address from the site root
    if (input.form) input.form.action = new URL("search/", root).href;
    function setOpen(open) {
      if (toggle.checked !== open) {
        toggle.checked = open;
        toggle.dispatchEvent(new Event("change"));
      }
    }
    toggle.addEventListener("change", function () {
      if (toggle.checked && doc.activeElement !== input) input.focus();
      if (!toggle.checked && doc.activeElement === input) input.blur();
    });
    input.addEventListener("focus", function () { setOpen(true); });
    input.addEventListener("keydown", function (event) {
      if (event.key === "Escape" || event.key === "Tab") setOpen(false);
    });
    doc.addEventListener("keydown", function (event) {
      var target = event.target;
      if (event.ctrlKey || event.metaKey || event.altKey || event.isComposing) return;
      if (target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT|BUTTON)$/.test(target.tagName))) return;
      if (event.key === "/" || event.key === "s" || event.key === "f") {
        event.preventDefault();
        input.focus();
      }
    });
    return { input: input, form: input.form, close: function () { setOpen(false); } };
  }

  function el(doc, tag, className, text) {
    var node = doc.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  /** ``text`` into ``parent`` as text, the part matching ``qn`` in a <mark>. */
  function appendHighlighted(doc, parent, text, qn) {
    text = String(text);
    var m = normaliseWithMap(text);
    var at = qn ? m.text.indexOf(qn) : -1;
    if (at < 0) {
      parent.appendChild(doc.createTextNode(text));
      return;
    }
    var start = m.starts[at];
    var end = m.ends[at + qn.length - 1];
    parent.appendChild(doc.createTextNode(text.slice(0, start)));
    parent.appendChild(el(doc, "mark", "", text.slice(start, end)));
    parent.appendChild(doc.createTextNode(text.slice(end)));
  }

  function subjectUrl(root, id, record) {
    var url = new URL("subjects/" + encodeURIComponent(id) + "/", root);
    if (record) url.hash = "r-" + encodeURIComponent(record);
    return url.href;
  }

  function subjectItem(doc, root, s, qn) {
    var li = el(doc, "li", "gongshi-search__item");
    var a = el(doc, "a", "gongshi-search__link");
    a.href = subjectUrl(root, s.id);
    appendHighlighted(doc, a, s.name || s.code, qn);
    li.appendChild(a);
    var label = s.id.slice(0, 2) === "ZC" ? "注册号 " : "统一社会信用代码 ";
    var meta = el(doc, "span", "gongshi-search__meta");
    meta.appendChild(doc.createTextNode(label));
    appendHighlighted(doc, meta, s.code, qn);
    li.appendChild(meta);
    return li;
  }

  function documentItem(doc, root, d, qn) {
    var li = el(doc, "li", "gongshi-search__item");
    var a = el(doc, "a", "gongshi-search__link");
    a.href = subjectUrl(root, d.id, d.record);
    appendHighlighted(doc, a, d.doc, qn);
    li.appendChild(a);
    li.appendChild(el(doc, "span", "gongshi-search__meta", [d.dataset, d.name].filter(Boolean).join(" · ")));
    return li;
  }

  function pageItem(doc, root, p, qn) {
    var li = el(doc, "li", "gongshi-search__item");
    var a = el(doc, "a", "gongshi-search__link");
    a.href = new URL(p.location, root).href;
    appendHighlighted(doc, a, p.page ? p.page + " › " + p.title : p.title, qn);
    li.appendChild(a);
    if (p.text) {
      var text = el(doc, "span", "gongshi-search__text");
      appendHighlighted(doc, text, snippet(p.text, qn), qn);
      li.appendChild(text);
    }
    return li;
  }

  /** One result section: a heading with the count, a list, a note and a "显示更多" button. */
  function Section(doc, app, name) {
    this.doc = doc;
    this.node = app.querySelector("[data-section='" + name + "']");
    this.list = this.node.querySelector("ol");
    this.count = this.node.querySelector("[data-count]");
    this.note = this.node.querySelector("[data-note]");
    this.more = this.node.querySelector("button[data-more]");
    var self = this;
    this.more.addEventListener("click", function () {
      var first = self.showNext();
      if (first) first.querySelector("a").focus();
    });
  }

  Section.prototype.fill = function (items, render, note, countText) {
    this.items = items;
    this.render = render;
    this.shown = 0;
    this.list.replaceChildren();
    this.count.textContent = countText || "";
    this.note.textContent = note || "";
    this.note.hidden = !note;
    this.node.hidden = items.length === 0 && !note;
    this.showNext();
  };

  Section.prototype.showNext = function () {
    var first = null;
    var end = Math.min(this.items.length, this.shown + PAGE_SIZE);
    for (var i = this.shown; i < end; i++) {
      var li = this.render(this.items[i]);
      if (!first) first = li;
      this.list.appendChild(li);
    }
    this.shown = end;
    this.more.hidden = this.shown >= this.items.length;
    this.more.textContent = "显示更多（还有 " + (this.items.length - this.shown) + " 条）";
    return first;
  };

  Section.prototype.clear = function () {
    this.fill([], null, "", "");
  };

  function runPage(app, doc, win, root, header) {
    var load = loader(new URL("searchindex/", root));
    var loadPages = loader(new URL("search/", root));
    var form = app.querySelector("form");
    var input = form.querySelector("input[name=q]");
    var status = app.querySelector("[role=status]");
    var sections = {
      subjects: new Section(doc, app, "subjects"),
      documents: new Section(doc, app, "documents"),
      pages: new Section(doc, app, "pages"),
    };
    var title = doc.title;
    var current = 0;

    async function run(q) {
      var token = ++current;
      q = String(q || "");
      input.value = q;
      if (header) header.input.value = q;
      var qn = normalise(q);
      Object.keys(sections).forEach(function (k) { sections[k].clear(); });
      if (!qn) {
        doc.title = title;
        status.textContent = "请输入主体名称、统一社会信用代码（或注册号）、决定书文号，或本站页面中的词语。";
        return;
      }
      doc.title = "“" + q.trim() + "” - " + title;
      status.textContent = "正在搜索……";
      var found = await Promise.all([
        searchIndex(q, load).catch(function (err) {
          return { error: err, subjects: [], subjectsComplete: true, documents: [], documentsComplete: true };
        }),
        loadPages("search_index.json").then(function (index) { return searchPages(qn, index); }, function () { return null; }),
      ]);
      if (token !== current) return;
      show(q, qn, found[0], found[1]);
    }

    function show(q, qn, answer, pages) {
      var subjectNote = "";
      if (answer.error) subjectNote = "主体索引暂时无法加载，请稍后重试。";
      else if (!answer.subjectsComplete) {
        subjectNote = "结果较多，仅显示前 " + answer.subjects.length + " 条，请输入更完整的名称或代码。";
      }
      var subjectCount = answer.subjectsComplete ? answer.subjects.length + " 个" : "前 " + answer.subjects.length + " 个";
      sections.subjects.fill(answer.subjects, function (s) { return subjectItem(doc, root, s, qn); }, subjectNote,
        answer.subjects.length ? subjectCount : "");
      var docNote = answer.documentsComplete ? "" : "结果较多，仅显示前 " + answer.documents.length + " 条，请输入更完整的文书号。";
      sections.documents.fill(answer.documents, function (d) { return documentItem(doc, root, d, qn); }, docNote,
        answer.documents.length ? answer.documents.length + " 条" : "");
      var pageItems = pages || [];
      sections.pages.fill(pageItems, function (p) { return pageItem(doc, root, p, qn); },
        pages === null ? "本站页面索引暂时无法加载。" : "", pageItems.length ? pageItems.length + " 个" : "");
      var total = answer.subjects.length + answer.documents.length + pageItems.length;
      if (total === 0) {
        status.textContent = "没有找到与“" + q.trim() + "”相关的主体、文书或页面。请检查输入，或换用名称中的其他词语。";
        return;
      }
      var parts = [];
      if (answer.subjects.length) parts.push((answer.subjectsComplete ? "" : "至少 ") + answer.subjects.length + " 个主体");
      if (answer.documents.length) parts.push((answer.documentsComplete ? "" : "至少 ") + answer.documents.length + " 条文书");
      if (pageItems.length) parts.push(pageItems.length + " 个本站页面");
      status.textContent = "“" + q.trim() + "”：找到 " + parts.join("、") + "。";
    }

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      go(input.value);
    });
    if (header && header.form) {
      header.form.addEventListener("submit", function (event) {
        event.preventDefault();
        header.close();
        go(header.input.value);
        input.focus();
      });
    }

    function go(q) {
      var url = new URL(win.location.href);
      url.searchParams.set("q", q);
      url.hash = "";
      win.history.pushState({ q: q }, "", url.href);
      run(q);
    }

    win.addEventListener("popstate", function () {
      run(new URLSearchParams(win.location.search).get("q") || "");
    });
    run(new URLSearchParams(win.location.search).get("q") || "");
  }

  function start(doc, win) {
    var root = siteRoot(doc, win);
    var header = enhanceHeader(doc, root);
    var app = doc.getElementById("gongshi-search");
    if (app) runPage(app, doc, win, root, header);
  }

  return {
    normalise: normalise,
    normaliseWithMap: normaliseWithMap,
    fnv1a32: fnv1a32,
    grams: grams,
    pickOrder: pickOrder,
    shardOf: shardOf,
    packPath: packPath,
    compareKeys: compareKeys,
    lastBelow: lastBelow,
    classify: classify,
    searchNames: searchNames,
    searchSorted: searchSorted,
    mergeSubjects: mergeSubjects,
    searchIndex: searchIndex,
    plainText: plainText,
    searchPages: searchPages,
    snippet: snippet,
    start: start,
  };
});
