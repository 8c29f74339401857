// Staff console: ask and inspect, mark answers, review list, export, batch eval.
(function () {
  "use strict";
  const $ = function (id) { return document.getElementById(id); };
  let last = null;
  const csrfMatch = document.cookie.match(/(?:^|; )gxga_csrf=([^;]*)/);
  const csrf = csrfMatch ? decodeURIComponent(csrfMatch[1]) : "";
  document.querySelectorAll("input.csrf").forEach(function (el) { el.value = csrf; });

  function api(path, options) {
    const opts = Object.assign({ credentials: "same-origin" }, options || {});
    opts.headers = Object.assign({ "X-CSRF-Token": csrf }, opts.headers || {});
    return fetch("/console/api/" + path, opts).then(function (r) {
      if (r.status === 401) { location.href = "/console/login"; throw new Error("login required"); }
      return r.json().then(function (body) {
        if (!r.ok) throw new Error(body.error || ("HTTP " + r.status));
        return body;
      });
    });
  }
  function post(path, body) {
    return api(path, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  }
  function showError(e) { $("error").textContent = e.message; }
  function cell(row, text) { const td = document.createElement("td"); td.textContent = text; row.appendChild(td); return td; }

  document.querySelectorAll(".tab").forEach(function (tab) {
    tab.addEventListener("click", function () {
      document.querySelectorAll(".tab").forEach(function (t) { t.classList.toggle("active", t === tab); });
      document.querySelectorAll(".panel").forEach(function (p) { p.hidden = p.id !== tab.dataset.tab; });
      if (tab.dataset.tab === "review") loadReview();
    });
  });

  api("whoami").then(function (me) {
    $("user").textContent = me.user;
    me.intents.forEach(function (i) {
      const o = document.createElement("option");
      o.value = i.intent; o.textContent = i.label + " (" + i.intent + ", 第" + i.measures.join("、") + "项)";
      $("correct-intent").appendChild(o);
    });
  }).catch(showError);

  $("ask-form").addEventListener("submit", function (e) {
    e.preventDefault();
    $("error").textContent = ""; $("saved").hidden = true; $("wrong-form").hidden = true;
    post("ask", { text: $("question").value }).then(function (r) {
      last = r;
      $("result").hidden = false;
      $("reply").textContent = r.replies.filter(function (m) { return m.text; }).map(function (m) {
        return m.text + (m.buttons ? "\n[" + m.buttons.map(function (b) { return b.title; }).join("] [") + "]" : "");
      }).join("\n\n");
      $("normalized").textContent = r.normalized;
      $("tokens").textContent = r.tokens.join(" / ");
      const table = $("ranking"); table.innerHTML = "";
      r.intent_ranking.forEach(function (i) {
        const row = table.insertRow(); cell(row, i.name); cell(row, Number(i.confidence).toFixed(3));
      });
      $("entities").textContent = r.entities.map(function (x) { return x.entity + "=" + x.value; }).join("，") || "（无）";
      $("cited").textContent = r.cited.length ? r.cited.map(function (n) { return "第" + n + "项"; }).join("、") : "（未引用）";
      const d = r.answerability;
      $("decision").textContent = d ? d.decision_label + "：" + d.reason +
        (r.related.length ? "（相关：第" + r.related.join("、") + "项）" : "") : "（无）";
      $("measure-text").textContent = r.measures.map(function (m) { return m.label + m.title + "（" + m.section + "）\n" + m.text; }).join("\n\n") || "（无）";
    }).catch(showError);
  });

  function saveReview(verdict) {
    if (!last) return;
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

  function loadReview() {
    api("review-list").then(function (r) {
      const body = $("groups").tBodies[0]; body.innerHTML = "";
      r.groups.forEach(function (g) {
        const row = body.insertRow();
        cell(row, g.examples.join(" ｜ ")); cell(row, String(g.count)); cell(row, g.reasons.join(", ")); cell(row, g.intents.join(", "));
        const td = cell(row, "");
        g.senders.filter(function (s) { return s.indexOf("staff:") !== 0; }).slice(0, 3).forEach(function (s) {
          const b = document.createElement("button"); b.type = "button"; b.textContent = "查看";
          b.addEventListener("click", function () {
            api("conversation/" + encodeURIComponent(s)).then(function (c) {
              $("conversation").hidden = false;
              $("conversation").textContent = c.turns.map(function (t) { return (t.from === "resident" ? "居民：" : "助手：") + t.text; }).join("\n");
            }).catch(showError);
          });
          td.appendChild(b);
        });
      });
    }).catch(showError);
  }

  $("eval-form").addEventListener("submit", function (e) {
    e.preventDefault();
    const data = new FormData(); data.append("cases", $("cases").files[0]);
    $("eval-summary").textContent = "…";
    api("eval", { method: "POST", body: data }).then(function (r) {
      const s = r.summary;
      $("eval-summary").textContent = "in-scope " + s.in_scope_accuracy + " · no-measure " + s.no_measure_accuracy +
        " · facts " + s.facts_accuracy + " · p50 " + s.latency_ms_p50 + " ms · " + s.cases + " cases";
      const body = $("eval-table").tBodies[0]; body.innerHTML = "";
      r.cases.forEach(function (c) {
        const row = body.insertRow(); if (!c.correct || c.facts_found === false) row.className = "wrong";
        cell(row, c.question || (c.turns || []).join(" → ")); cell(row, c.expected.join(",")); cell(row, c.cited.join(","));
        cell(row, c.intent || ""); cell(row, c.confidence == null ? "" : Number(c.confidence).toFixed(3)); cell(row, c.reply);
      });
    }).catch(showError);
  });
})();
