// Staff console: 数据看板, 测试问答, 待审问题, 批量评测, 知识库, and for administrators 账号管理 and 操作日志.
// Every word this script shows comes from GET /console/api/wording (bot/webapp/console/wording.yml):
// the page's own words from its "ui" section (t(name)), labels of codes from the other sections.
// Nothing a user or resident typed is inserted as HTML: text goes in with textContent only.
(function () {
  "use strict";
  const $ = function (id) { return document.getElementById(id); };
  let W = { ui: {}, intent_labels: {} };  // the wording file, once loaded
  let me = { user: "", role: "staff" };
  let last = null;  // the last 测试问答 result
  let days = 7;  // the dashboard's period
  let highlightKey = null;  // a review group to scroll to (from the dashboard)
  let auditBefore = null;  // the id the next page of the audit log starts below
  const loaded = {};  // tabs whose data is loaded once
  const charts = {};  // ECharts instances by container id
  const csrfMatch = document.cookie.match(/(?:^|; )gxga_csrf=([^;]*)/);
  const csrf = csrfMatch ? decodeURIComponent(csrfMatch[1]) : "";
  document.querySelectorAll("input.csrf").forEach(function (input) { input.value = csrf; });

  // --- words -------------------------------------------------------------------------------

  /** The page's word ``key`` from the wording file's ui section, with its {names} filled in. */
  function t(key, values) {
    const text = W.ui[key];
    if (typeof text !== "string") { console.warn("wording.yml: ui." + key + " is missing"); return key; }
    return text.replace(/\{(\w+)\}/g, function (whole, name) {
      return values && Object.prototype.hasOwnProperty.call(values, name) ? String(values[name]) : whole;
    });
  }
  /** The Chinese label of ``code`` in a section of the wording file (outcomes have {label}). */
  function label(section, code) {
    const entry = (W[section] || {})[code];
    if (entry && typeof entry === "object") return entry.label || t("unknown_code");
    return typeof entry === "string" ? entry : t("unknown_code");
  }
  function intentLabel(code) {
    if (!code) return t("no_intent");
    return W.intent_labels[code] || (W.intents || {})[code] || t("unknown_intent");
  }
  function number(n) { return n == null ? "—" : Number(n).toLocaleString("zh-CN"); }
  function percent(part, whole) { return whole ? (100 * part / whole).toFixed(1) + "%" : "—"; }
  function ratio(value) { return value == null ? t("not_applicable") : (100 * value).toFixed(1) + "%"; }
  function milliseconds(ms) {
    if (ms == null) return t("not_applicable");
    return ms >= 1000 ? t("seconds", { n: (ms / 1000).toFixed(1) }) : t("milliseconds", { n: Math.round(ms) });
  }
  function measureList(numbers) {
    return numbers && numbers.length ? numbers.map(function (n) { return t("measure_n", { n: n }); }).join("、") : "";
  }
  function dayParts(text) {
    const m = /^(\d{4})-(\d{2})-(\d{2})/.exec(text || "");
    return m ? { y: Number(m[1]), m: Number(m[2]), d: Number(m[3]) } : null;
  }
  /** "2026-12-01" as 2026年12月1日 (long) or 12月1日. */
  function day(text, long) {
    const p = dayParts(text);
    if (!p) return text || "";
    return long ? t("date_long", p) : t("date_short", p);
  }
  /** An ISO timestamp as 2026年12月1日 14:05, in the browser's time zone. */
  function moment(text) {
    if (!text) return t("never");
    const d = new Date(text);
    if (isNaN(d.getTime())) return String(text);
    const two = function (n) { return String(n).padStart(2, "0"); };
    return t("datetime", { y: d.getFullYear(), m: d.getMonth() + 1, d: d.getDate(), hh: two(d.getHours()), mm: two(d.getMinutes()) });
  }
  function localDay(d) {
    return d.getFullYear() + "-" + String(d.getMonth() + 1).padStart(2, "0") + "-" + String(d.getDate()).padStart(2, "0");
  }

  // --- elements ----------------------------------------------------------------------------

  /** A new element with text content (strings) and children (nodes); attrs as properties. */
  function el(tag, attrs) {
    const node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "className") node.className = attrs[k];
      else if (k === "dataset") Object.assign(node.dataset, attrs[k]);
      else if (k.indexOf("aria-") === 0 || k === "scope" || k === "role") node.setAttribute(k, attrs[k]);
      else node[k] = attrs[k];
    });
    for (let i = 2; i < arguments.length; i++) {
      const c = arguments[i];
      if (c == null || c === false) continue;
      node.appendChild(typeof c === "string" || typeof c === "number" ? document.createTextNode(String(c)) : c);
    }
    return node;
  }
  /** An intent as staff read it: its label, and its code in small type for maintainers. */
  function intentNode(code) {
    const span = el("span", { className: "intent" }, intentLabel(code));
    if (code) span.appendChild(el("small", { className: "code" }, " " + code));
    return span;
  }
  function button(text, onClick, className) {
    const b = el("button", { type: "button", className: className || "" }, text);
    b.addEventListener("click", onClick);
    return b;
  }
  function cell(row, content, header) {
    const td = el(header ? "th" : "td", header ? { scope: "row" } : {});
    if (content instanceof Node) td.appendChild(content); else td.textContent = content == null ? "" : String(content);
    row.appendChild(td);
    return td;
  }
  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); return node; }

  // --- the API -----------------------------------------------------------------------------

  function api(path, options) {
    const opts = Object.assign({ credentials: "same-origin" }, options || {});
    opts.headers = Object.assign({ "X-CSRF-Token": csrf }, opts.headers || {});
    return fetch("/console/api/" + path, opts).then(function (r) {
      if (r.status === 401) { location.href = "/console/login"; throw new Error(t("login_required")); }
      return r.json().then(function (body) {
        if (!r.ok) throw new Error(body.error || t("http_error", { status: r.status }));
        return body;
      }, function () { throw new Error(t("http_error", { status: r.status })); });
    });
  }
  function post(path, body) {
    return api(path, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  }
  function showError(e) { $("error").textContent = e && e.message ? e.message : String(e); }
  function clearError() { $("error").textContent = ""; }

  // --- tabs --------------------------------------------------------------------------------

  const tabs = Array.prototype.slice.call(document.querySelectorAll("[role=tab]"));
  function visibleTabs() { return tabs.filter(function (tab) { return !tab.hidden; }); }
  function showTab(name, focus) {
    tabs.forEach(function (tab) {
      const on = tab.dataset.tab === name;
      tab.setAttribute("aria-selected", on ? "true" : "false");
      tab.tabIndex = on ? 0 : -1;
      tab.classList.toggle("active", on);
      if (on && focus) tab.focus();
    });
    document.querySelectorAll("[role=tabpanel]").forEach(function (p) { p.hidden = p.id !== name; });
    clearError();
    if (name === "dashboard") { if (!loaded.dashboard) loadStats(); else resizeCharts(); }
    if (name === "review") loadReview();
    if (name === "knowledge" && !loaded.knowledge) loadKnowledge();
    if (name === "accounts") loadUsers();
    if (name === "audit" && !loaded.audit) loadAudit(true);
  }
  tabs.forEach(function (tab) {
    tab.addEventListener("click", function () { showTab(tab.dataset.tab); });
    tab.addEventListener("keydown", function (e) {
      const shown = visibleTabs(), i = shown.indexOf(tab);
      const to = { ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: shown.length - 1 }[e.key];
      if (to === undefined) return;
      e.preventDefault();
      showTab(shown[(to + shown.length) % shown.length].dataset.tab, true);
    });
  });

  // --- 数据看板 ------------------------------------------------------------------------------

  // One colour per outcome, in the wording file's order (answered first).
  const PALETTE = ["#2e7d32", "#1d4f91", "#f9a825", "#8e24aa", "#6d4c41", "#c62828", "#00838f", "#ef6c00", "#ad1457", "#546e7a", "#9e9e9e"];

  function chart(id, description, option) {
    const node = $(id);
    if (!window.echarts) { node.hidden = true; $("charts-missing").hidden = false; return; }
    if (!charts[id]) charts[id] = window.echarts.init(node, null, { renderer: "canvas", locale: "ZH" });
    // Tooltips drawn on the canvas (richText): ECharts' HTML tooltips carry inline style
    // attributes, which the console's Content-Security-Policy (style-src 'self') refuses.
    const base = {
      animation: false,  // figures, not a show (and a screenshot or a screen reader sees the final chart)
      aria: { enabled: true, label: { description: description } },
      textStyle: { fontFamily: "PingFang SC, Microsoft YaHei, Noto Sans CJK SC, WenQuanYi Micro Hei, sans-serif" },
      tooltip: { renderMode: "richText", confine: true }
    };
    option.tooltip = Object.assign(base.tooltip, option.tooltip || {});
    charts[id].setOption(Object.assign(base, option), true);
  }
  function resizeCharts() { Object.keys(charts).forEach(function (id) { charts[id].resize(); }); }
  window.addEventListener("resize", resizeCharts);

  document.querySelectorAll(".period-button").forEach(function (b) {
    b.addEventListener("click", function () {
      days = Number(b.dataset.days);
      document.querySelectorAll(".period-button").forEach(function (x) { x.setAttribute("aria-pressed", x === b ? "true" : "false"); });
      loadStats();
    });
  });

  function loadStats() {
    loaded.dashboard = true;
    $("stats-csv").href = "/console/api/stats.csv?days=" + days;
    $("stats-csv").setAttribute("download", t("csv_filename", { days: days }));
    const asked = days;
    api("stats?days=" + days).then(function (s) { if (asked === days) renderStats(s); }).catch(showError);
  }

  function renderStats(s) {
    const codes = Object.keys(s.outcomes || {});
    $("stats-period").textContent = t("stats_period", { since: day(s.since, true), until: day(s.until, true), days: s.days });
    $("fig-total").textContent = number(s.total);
    $("fig-answered").textContent = percent((s.outcomes || {}).answered || 0, s.total);
    $("fig-reply").textContent = milliseconds(s.reply_ms && s.reply_ms.median);
    $("fig-feedback").textContent = number((s.feedback || {}).up) + " / " + number((s.feedback || {}).down);
    renderDaily(s, codes);
    renderMeasures(s.top_measures || []);
    renderChannels(s.channels || {});
    renderUnanswered(s.unanswered || []);
  }

  function renderDaily(s, codes) {
    const perDay = s.per_day || [];
    const table = $("table-daily");
    const head = clear(table.tHead).insertRow();
    head.appendChild(el("th", { scope: "col" }, t("col_day")));
    codes.forEach(function (c) { head.appendChild(el("th", { scope: "col", dataset: { outcome: c } }, label("outcomes", c))); });
    head.appendChild(el("th", { scope: "col" }, t("col_total")));
    const body = clear(table.tBodies[0]);
    perDay.forEach(function (d) {
      const row = body.insertRow();
      row.dataset.day = d.day;
      cell(row, day(d.day, true), true);
      codes.forEach(function (c) { cell(row, number((d.outcomes || {})[c] || 0)).dataset.outcome = c; });
      cell(row, number(d.total)).className = "total";
    });
    // Outcomes that never happened in the period stay in the table but not in the chart's legend.
    const shown = codes.filter(function (c) { return perDay.some(function (d) { return (d.outcomes || {})[c]; }); });
    chart("chart-daily", t("chart_daily_description", { days: s.days, total: number(s.total) }), {
      legend: { top: 0, type: "scroll" },
      grid: { left: 44, right: 16, top: 36, bottom: 28 },
      tooltip: { trigger: "axis" },
      xAxis: { type: "category", data: perDay.map(function (d) { return day(d.day, false); }) },
      yAxis: { type: "value", minInterval: 1, name: t("axis_questions") },
      series: shown.map(function (c) {
        return {
          name: label("outcomes", c), type: "bar", stack: "total", barMaxWidth: 28,
          itemStyle: { color: PALETTE[codes.indexOf(c) % PALETTE.length] },
          data: perDay.map(function (d) { return (d.outcomes || {})[c] || 0; })
        };
      })
    });
  }

  function measureName(m) { return (m.label || t("measure_n", { n: m.number })) + (m.title || ""); }

  function renderMeasures(top) {
    const body = clear($("table-measures").tBodies[0]);
    top.forEach(function (m) {
      const row = body.insertRow();
      row.dataset.number = m.number;
      cell(row, measureName(m), true);
      cell(row, number(m.asked)); cell(row, number(m.up)); cell(row, number(m.down));
    });
    if (!top.length) { const row = body.insertRow(); cell(row, t("no_data")).colSpan = 4; }
    const names = top.map(function (m) {
      const name = measureName(m);
      return name.length > 16 ? name.slice(0, 15) + "…" : name;
    });
    $("chart-measures").style.height = Math.max(240, 60 + 30 * top.length) + "px";
    chart("chart-measures", t("chart_measures_description", { n: top.length }), {
      legend: { top: 0 },
      grid: { left: 8, right: 24, top: 30, bottom: 20, containLabel: true },
      tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
      xAxis: { type: "value", minInterval: 1 },
      yAxis: { type: "category", inverse: true, data: names, axisLabel: { width: 200, overflow: "truncate" } },
      series: [
        { name: t("series_asked"), type: "bar", barMaxWidth: 14, itemStyle: { color: "#1d4f91" }, data: top.map(function (m) { return m.asked; }) },
        { name: t("series_up"), type: "bar", barMaxWidth: 14, itemStyle: { color: "#2e7d32" }, data: top.map(function (m) { return m.up; }) },
        { name: t("series_down"), type: "bar", barMaxWidth: 14, itemStyle: { color: "#c62828" }, data: top.map(function (m) { return m.down; }) }
      ]
    });
    if (charts["chart-measures"]) charts["chart-measures"].resize();
  }

  function renderChannels(channels) {
    const codes = Object.keys(channels);
    const total = codes.reduce(function (sum, c) { return sum + (channels[c] || 0); }, 0);
    const body = clear($("table-channels").tBodies[0]);
    codes.forEach(function (c) {
      const row = body.insertRow();
      row.dataset.channel = c;
      cell(row, label("channels", c), true); cell(row, number(channels[c])); cell(row, percent(channels[c], total));
    });
    if (!codes.length) { const row = body.insertRow(); cell(row, t("no_data")).colSpan = 3; }
    chart("chart-channels", t("chart_channels_description", { total: number(total) }), {
      legend: { bottom: 0, type: "scroll" },
      tooltip: { trigger: "item" },
      series: [{
        name: t("series_channels"), type: "pie", radius: ["35%", "62%"], center: ["50%", "45%"],
        label: { formatter: "{b}\n{d}%" },
        data: codes.filter(function (c) { return channels[c]; }).map(function (c, i) {
          return { name: label("channels", c), value: channels[c], itemStyle: { color: PALETTE[(i + 1) % PALETTE.length] } };
        })
      }]
    });
  }

  function renderUnanswered(groups) {
    const body = clear($("table-unanswered").tBodies[0]);
    groups.forEach(function (g) {
      const row = body.insertRow();
      const link = el("a", { href: "#review", className: "to-review" }, g.text);
      link.addEventListener("click", function (e) {
        e.preventDefault();
        highlightKey = g.key;
        showTab("review", true);
      });
      cell(row, link);
      cell(row, number(g.count));
      cell(row, (g.reasons || []).map(function (r) { return label("reasons", r); }).join("、"));
    });
    if (!groups.length) { const row = body.insertRow(); cell(row, t("no_unanswered")).colSpan = 3; }
  }

  // --- 测试问答 ------------------------------------------------------------------------------

  $("ask-form").addEventListener("submit", function (e) {
    e.preventDefault();
    clearError(); $("saved").hidden = true; $("wrong-form").hidden = true;
    post("ask", { text: $("question").value }).then(function (r) {
      last = r;
      $("result").hidden = false;
      $("reply").textContent = r.replies.filter(function (m) { return m.text; }).map(function (m) {
        return m.text + (m.buttons ? "\n[" + m.buttons.map(function (b) { return b.title; }).join("] [") + "]" : "");
      }).join("\n\n");
      $("normalized").textContent = r.normalized;
      $("tokens").textContent = r.tokens.join(" / ");
      const table = $("ranking");
      Array.prototype.slice.call(table.rows).forEach(function (row) { row.remove(); });
      const head = table.createTHead().insertRow();
      head.appendChild(el("th", { scope: "col" }, t("col_intent")));
      head.appendChild(el("th", { scope: "col" }, t("col_confidence")));
      const body = table.tBodies[0] || table.createTBody();
      r.intent_ranking.forEach(function (i) {
        const row = body.insertRow(); cell(row, intentNode(i.name)); cell(row, Number(i.confidence).toFixed(3));
      });
      const entities = $("entities");
      clear(entities);
      r.entities.forEach(function (x, n) {
        if (n) entities.appendChild(document.createTextNode("，"));
        const name = (W.ui.entities || {})[x.entity] || t("unknown_code");
        entities.appendChild(el("span", {}, name + "：" + x.value));
        entities.appendChild(el("small", { className: "code" }, " " + x.entity));
      });
      if (!r.entities.length) entities.textContent = t("none");
      $("cited").textContent = r.cited.length ? measureList(r.cited) : t("not_cited");
      const d = r.answerability;
      $("decision").textContent = d ? d.decision_label + "：" + d.reason +
        (r.related.length ? t("related", { measures: measureList(r.related) }) : "") : t("none");
      showModel(d && d.model, d && d.named_aspect);
      $("measure-text").textContent = r.measures.map(function (m) {
        return m.label + m.title + "（" + m.section + "）\n" + m.text;
      }).join("\n\n") || t("none");
    }).catch(showError);
  });

  /** The learned decision's inputs and probability, in Chinese (wording.yml ui.model_*). */
  function showModel(m, named) {
    const box = clear($("decision-model"));
    if (!m) { box.textContent = t("model_none"); return; }
    const pct = function (x) { return Number(x).toFixed(2); };
    const aspect = function (code) { return (W.ui.aspects || {})[code] || t("unknown_code"); };
    const lines = [
      t("model_probability", { p: pct(m.probability), threshold: pct(m.threshold) }),
      t("model_aspect", { aspect: aspect(m.aspect), p: pct(m.aspect_probability),
        covered: m.covered ? t("model_covered_yes") : t("model_covered_no") })
    ];
    if (m.uncovered_words && m.uncovered_words.length) lines.push(t("model_uncovered", { words: m.uncovered_words.join("、") }));
    if (m.candidates && m.candidates.length) {
      lines.push(t("model_candidates", { list: m.candidates.map(function (c) {
        return t("model_candidate", { intent: intentLabel(c.intent), p: pct(c.probability) });
      }).join("；") }));
    }
    if (named) lines.push(t("model_named", { aspect: aspect(named) }));
    lines.forEach(function (line) { box.appendChild(el("div", {}, line)); });
  }

  function saveReview(verdict) {
    if (!last) return;
    clearError();
    post("reviews", {
      question: last.question, intent: last.intent && last.intent.name, cited: last.cited, verdict: verdict,
      correct_intent: verdict === "wrong" ? $("correct-intent").value : null,
      correct_measure: verdict === "wrong" ? $("correct-measure").value : null,
      comment: verdict === "wrong" ? $("comment").value : ""
    }).then(function () { $("saved").hidden = false; $("wrong-form").hidden = true; }).catch(showError);
  }
  $("mark-right").addEventListener("click", function () { saveReview("right"); });
  $("mark-wrong").addEventListener("click", function () { $("wrong-form").hidden = false; $("saved").hidden = true; });
  $("save-wrong").addEventListener("click", function () { saveReview("wrong"); });

  // --- 待审问题 ------------------------------------------------------------------------------

  $("review-filters").addEventListener("submit", function (e) { e.preventDefault(); loadReview(); });
  $("review-handled").addEventListener("change", function () { loadReview(); });
  $("review-reason").addEventListener("change", function () { loadReview(); });

  function reviewQuery() {
    const q = new URLSearchParams();
    if ($("review-reason").value) q.set("reason", $("review-reason").value);
    if ($("review-since").value) q.set("since", $("review-since").value);
    if ($("review-until").value) q.set("until", $("review-until").value);
    if ($("review-handled").checked) q.set("include_handled", "1");
    const text = q.toString();
    return text ? "?" + text : "";
  }

  function loadReview() {
    clearError();
    api("review-list" + reviewQuery()).then(renderReview).catch(showError);
  }

  function renderReview(r) {
    const body = clear($("groups").tBodies[0]);
    const groups = r.groups || [];
    const asked = groups.reduce(function (n, g) { return n + g.count; }, 0);
    $("review-total").textContent = t("review_total", { groups: number(groups.length), questions: number(asked) }) +
      (r.hidden_handled ? t("review_hidden_handled", { n: number(r.hidden_handled) }) : "");
    let target = null;
    groups.forEach(function (g) {
      const row = body.insertRow();
      if (g.key != null) row.dataset.key = g.key;
      if (g.handled) row.className = "handled";
      const question = el("div", {}, el("span", { className: "example" }, g.examples[0] || g.text || ""));
      if (g.examples.length > 1) question.appendChild(el("div", { className: "more-examples" }, t("also_asked", { examples: g.examples.slice(1).join(" ｜ ") })));
      cell(row, question);
      cell(row, number(g.count));
      cell(row, (g.reasons || []).map(function (code, i) {
        return (g.reason_labels && g.reason_labels[i]) || label("reasons", code);
      }).join("、"));
      const intents = el("div", {});
      (g.intents || []).forEach(function (code) { intents.appendChild(el("div", {}, intentNode(code))); });
      cell(row, intents);
      const first = g.first_at ? moment(g.first_at) : "", latest = g.last_at ? moment(g.last_at) : first;
      cell(row, first === latest ? first : t("first_last", { first: first, last: latest }));
      const talks = cell(row, "");
      (g.senders || []).filter(function (s) { return s.indexOf("staff:") !== 0; }).slice(0, 3).forEach(function (s, i) {
        talks.appendChild(button(t("view_conversation", { n: i + 1 }), function () { showConversation(s); }, "view-conversation"));
      });
      const handling = cell(row, "");
      if (g.handled) {
        handling.appendChild(el("div", { className: "last-handled" }, t("last_handled", { by: g.handled.by, at: moment(g.handled.at) }) +
          (g.handled.newer ? t("asked_since", { n: number(g.handled.newer) }) : "")));
      }
      if (g.handled && !g.handled.newer) {
        handling.appendChild(button(t("reopen"), function () {
          clearError();
          post("review-groups/reopen", { key: g.key }).then(loadReview).catch(showError);
        }, "reopen"));
      } else if (g.key != null) {
        // A group asked again since it was handled is handled anew.
        handling.appendChild(button(t("mark_handled"), function () {
          clearError();
          post("review-groups/handled", { key: g.key, text: g.text || g.examples[0] || "" }).then(loadReview).catch(showError);
        }, "mark-handled"));
      }
      if (highlightKey && g.key === highlightKey) target = row;
    });
    if (!groups.length) { const row = body.insertRow(); cell(row, t("no_review_groups")).colSpan = 7; }
    if (target) {
      target.classList.add("highlight");
      target.scrollIntoView({ block: "center" });
    }
    highlightKey = null;
  }

  function showConversation(sender) {
    clearError();
    api("conversation/" + encodeURIComponent(sender)).then(function (c) {
      const box = $("conversation");
      box.hidden = false;
      box.textContent = c.turns.map(function (turn) {
        return (turn.from === "resident" ? t("resident_said") : t("assistant_said")) + turn.text;
      }).join("\n");
    }).catch(showError);
  }

  // --- 批量评测 ------------------------------------------------------------------------------

  $("eval-form").addEventListener("submit", function (e) {
    e.preventDefault();
    clearError();
    const data = new FormData(); data.append("cases", $("cases").files[0]);
    const summary = clear($("eval-summary"));
    summary.textContent = t("running");
    api("eval", { method: "POST", body: data }).then(function (r) {
      const s = r.summary;
      clear(summary);
      const list = el("dl", { className: "summary" });
      [
        [t("in_scope_accuracy"), ratio(s.in_scope_accuracy) + t("of_cases", { n: number(s.in_scope_cases) })],
        [t("no_measure_accuracy"), ratio(s.no_measure_accuracy) + t("of_cases", { n: number(s.no_measure_cases) })],
        [t("facts_accuracy"), ratio(s.facts_accuracy) + t("of_cases", { n: number(s.facts_cases) })],
        [t("median_latency"), milliseconds(s.latency_ms_p50)],
        [t("case_count"), number(s.cases)]
      ].forEach(function (pair) { list.appendChild(el("div", {}, el("dt", {}, pair[0]), el("dd", {}, pair[1]))); });
      summary.appendChild(list);
      const body = clear($("eval-table").tBodies[0]);
      r.cases.forEach(function (c) {
        const wrong = !c.correct || c.facts_found === false;
        const row = body.insertRow(); if (wrong) row.className = "wrong";
        cell(row, c.question || (c.turns || []).join(" → "));
        cell(row, measureList(c.expected) || t("no_measure_expected"));
        cell(row, measureList(c.cited) || t("not_cited"));
        cell(row, c.intent ? intentNode(c.intent) : t("none"));
        cell(row, c.confidence == null ? "" : Number(c.confidence).toFixed(3));
        cell(row, !c.correct ? t("case_wrong") : c.facts_found === false ? t("case_facts_missing") : t("case_right"));
        cell(row, c.reply);
      });
    }).catch(function (e) { clear(summary); showError(e); });
  });

  // --- 知识库 --------------------------------------------------------------------------------

  $("kb-form").addEventListener("submit", function (e) { e.preventDefault(); loadKnowledge(); });

  function loadKnowledge() {
    loaded.knowledge = true;
    clearError();
    const q = $("kb-q").value.trim();
    api("knowledge" + (q ? "?q=" + encodeURIComponent(q) : "")).then(function (k) { renderKnowledge(k, q); }).catch(showError);
  }

  function factText(f) {
    if (typeof f === "string") return f;
    const kind = f.type_label || ((W.fact_types || {})[f.type]) || t("fact_other");
    return kind + "：" + (f.value || f.canonical || "");
  }

  function renderKnowledge(k, q) {
    const doc = k.document || {};
    $("kb-document").textContent = doc.title ? t("kb_document", { title: doc.title, date: doc.issued_on_label || day(doc.issued_on, true) }) : "";
    const box = clear($("kb-sections"));
    let count = 0;
    (k.sections || []).forEach(function (section) {
      if (!section.measures.length) return;
      box.appendChild(el("h3", {}, section.name));
      section.measures.forEach(function (m) {
        count += 1;
        const item = el("details", { className: "kb-measure" }, el("summary", {}, measureName(m)));
        item.dataset.number = m.number;
        item.appendChild(el("p", { className: "measure-text" }, m.text));
        if (m.facts && m.facts.length) {
          item.appendChild(el("h4", {}, t("kb_facts")));
          const facts = el("ul", { className: "facts" });
          m.facts.forEach(function (f) { facts.appendChild(el("li", {}, factText(f))); });
          item.appendChild(facts);
        }
        if (m.intents && m.intents.length) {
          item.appendChild(el("h4", {}, t("kb_intents")));
          const intents = el("ul", { className: "kb-intents" });
          m.intents.forEach(function (i) {
            const li = el("li", {}, el("span", {}, i.label || intentLabel(i.intent)), el("small", { className: "code" }, " " + i.intent));
            if (i.examples && i.examples.length) li.appendChild(el("div", { className: "examples" }, t("kb_examples", { examples: i.examples.slice(0, 5).join(" ｜ ") })));
            intents.appendChild(li);
          });
          item.appendChild(intents);
        }
        box.appendChild(item);
      });
    });
    $("kb-count").textContent = q ? t("kb_found", { n: count, q: q }) : t("kb_all", { n: count });
  }

  // --- 账号管理 ------------------------------------------------------------------------------

  let passwordFor = null;

  function loadUsers() {
    clearError();
    api("users").then(renderUsers).catch(showError);
  }

  function userAction(username, body, done) {
    clearError(); $("users-saved").hidden = true;
    post("users/" + encodeURIComponent(username), body).then(function () {
      $("users-saved").textContent = done; $("users-saved").hidden = false;
      loadUsers();
    }).catch(showError);
  }

  function renderUsers(r) {
    const body = clear($("users").tBodies[0]);
    (r.users || []).forEach(function (u) {
      const row = body.insertRow();
      row.dataset.username = u.username;
      if (u.disabled) row.className = "disabled";
      cell(row, u.username, true);
      cell(row, u.role_label || label("roles", u.role));
      cell(row, u.disabled ? t("user_disabled") : t("user_active"));
      cell(row, moment(u.created_at));
      cell(row, moment(u.last_login));
      const actions = cell(row, "");
      actions.appendChild(u.disabled
        ? button(t("enable"), function () { userAction(u.username, { action: "enable" }, t("done_enabled", { user: u.username })); }, "enable-user")
        : button(t("disable"), function () {
          if (window.confirm(t("confirm_disable", { user: u.username }))) userAction(u.username, { action: "disable" }, t("done_disabled", { user: u.username }));
        }, "disable-user"));
      const other = u.role === "admin" ? "staff" : "admin";
      actions.appendChild(button(t("set_role", { role: label("roles", other) }), function () {
        userAction(u.username, { action: "set_role", role: other }, t("done_role", { user: u.username, role: label("roles", other) }));
      }, "set-role"));
      actions.appendChild(button(t("reset_password"), function () {
        passwordFor = u.username;
        $("password-for").textContent = t("password_for", { user: u.username });
        $("password-form").hidden = false;
        $("new-password").value = "";
        $("new-password").focus();
      }, "reset-password"));
    });
  }

  $("password-form").addEventListener("submit", function (e) {
    e.preventDefault();
    if (!passwordFor) return;
    const user = passwordFor;
    userAction(user, { action: "reset_password", password: $("new-password").value }, t("done_password", { user: user }));
    $("password-form").hidden = true; $("new-password").value = ""; passwordFor = null;
  });
  $("cancel-password").addEventListener("click", function () { $("password-form").hidden = true; passwordFor = null; });

  $("user-form").addEventListener("submit", function (e) {
    e.preventDefault();
    clearError(); $("users-saved").hidden = true;
    const username = $("new-username").value.trim();
    post("users", { username: username, password: $("new-user-password").value, role: $("new-role").value }).then(function () {
      $("users-saved").textContent = t("done_created", { user: username }); $("users-saved").hidden = false;
      $("new-username").value = ""; $("new-user-password").value = "";
      loadUsers();
    }).catch(showError);
  });

  // --- 操作日志 ------------------------------------------------------------------------------

  const AUDIT_PAGE = 50;
  $("audit-filters").addEventListener("submit", function (e) { e.preventDefault(); loadAudit(true); });
  $("audit-more").addEventListener("click", function () { loadAudit(false); });

  function loadAudit(fresh) {
    loaded.audit = true;
    clearError();
    const q = new URLSearchParams({ limit: String(AUDIT_PAGE) });
    if (!fresh && auditBefore != null) q.set("before", String(auditBefore));
    if ($("audit-actor").value.trim()) q.set("actor", $("audit-actor").value.trim());
    if ($("audit-action").value) q.set("action", $("audit-action").value);
    api("audit?" + q.toString()).then(function (r) {
      const body = $("audit-table").tBodies[0];
      if (fresh) clear(body);
      const entries = r.entries || [];
      entries.forEach(function (a) {
        const row = body.insertRow();
        row.dataset.id = a.id;
        cell(row, moment(a.at)); cell(row, a.actor); cell(row, a.action_label || label("audit_actions", a.action));
        cell(row, a.target); cell(row, a.detail_label || a.detail);
      });
      if (fresh && !entries.length) { const row = body.insertRow(); cell(row, t("no_audit")).colSpan = 5; }
      auditBefore = entries.length ? entries[entries.length - 1].id : auditBefore;
      $("audit-more").hidden = entries.length < AUDIT_PAGE;
    }).catch(showError);
  }

  // --- start -------------------------------------------------------------------------------

  function fillSelect(select, entries) {
    entries.forEach(function (pair) { select.appendChild(el("option", { value: pair[0] }, pair[1])); });
  }

  function start() {
    $("user").textContent = me.user;
    $("role").textContent = me.role_label || (me.role ? label("roles", me.role) : "");
    (me.intents || []).forEach(function (i) {
      const o = el("option", { value: i.intent, title: i.intent }, i.label + (i.measures && i.measures.length ? "（" + measureList(i.measures) + "）" : ""));
      $("correct-intent").appendChild(o);
    });
    fillSelect($("review-reason"), Object.keys(W.reasons || {}).map(function (c) { return [c, label("reasons", c)]; }));
    fillSelect($("audit-action"), Object.keys(W.audit_actions || {}).map(function (c) { return [c, label("audit_actions", c)]; }));
    fillSelect($("new-role"), Object.keys(W.roles || {}).reverse().map(function (c) { return [c, label("roles", c)]; }));
    $("review-since").max = $("review-until").max = localDay(new Date());
    document.querySelectorAll(".admin-only").forEach(function (node) { node.hidden = me.role !== "admin"; });
    showTab("dashboard");
  }

  Promise.all([api("wording"), api("whoami")]).then(function (answers) {
    W = answers[0];
    W.ui = W.ui || {};
    W.intent_labels = W.intent_labels || {};
    me = answers[1];
    start();
  }).catch(showError);
})();
