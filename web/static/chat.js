// A thin chat widget over the web server's /api/message (which forwards to Rasa's REST channel).
// An answer's source line and reminder are drawn from its custom payload ("answer" and
// "citation": document, date, year, label, title, number), filled into the page's templates
// (the "strings" template of index.html holds every text the script shows); no reply wording
// is read here.
// The conversation (sender id and messages) is kept in localStorage, so it survives a reload.
// When the server answers 429 (sending too fast) the page shows the polite text of the answer and
// sends nothing until the Retry-After seconds have passed.
(function () {
  "use strict";
  const SENDER_KEY = "gxga.sender", HISTORY_KEY = "gxga.history", MAX_HISTORY = 200;
  const log = document.getElementById("log");
  const form = document.getElementById("ask");
  const input = document.getElementById("input");
  const status = document.getElementById("status");
  const sendButton = document.getElementById("send");
  const DEFAULT_WAIT_S = 60, MAX_WAIT_S = 600;
  const strings = {};
  document.getElementById("strings").content.querySelectorAll("[data-key]").forEach(function (el) {
    strings[el.dataset.key] = el.textContent;
  });

  function newSender() {
    const id = (window.crypto && crypto.randomUUID) ? crypto.randomUUID() : String(Date.now()) + Math.random().toString(16).slice(2);
    localStorage.setItem(SENDER_KEY, id);
    return id;
  }
  let sender = localStorage.getItem(SENDER_KEY) || newSender();
  let history = [];
  try { history = JSON.parse(localStorage.getItem(HISTORY_KEY) || "[]"); } catch (e) { history = []; }

  function save() { localStorage.setItem(HISTORY_KEY, JSON.stringify(history.slice(-MAX_HISTORY))); }

  // A page template with {field} placeholders filled from data (unknown fields are left empty).
  function fill(template, fields) {
    return (template || "").replace(/\{(\w+)\}/g, function (_, key) {
      return Object.prototype.hasOwnProperty.call(fields, key) ? String(fields[key]) : "";
    });
  }

  function appendLine(bubble, className, text) {
    const el = document.createElement("div");
    el.className = className;
    el.textContent = text;
    bubble.appendChild(el);
  }

  // A cited answer: its sentences, then the source line and the reminder built from the citation.
  // Any other bot text: its lines as they are.
  function renderText(bubble, item) {
    const cited = item.citation && typeof item.answer === "string";
    (cited ? item.answer : item.text).split("\n").forEach(function (line) { appendLine(bubble, "line", line); });
    if (!cited) return;
    appendLine(bubble, "citation", fill(strings.citation, item.citation));
    appendLine(bubble, "note", fill(strings.note, item.citation));
  }

  function render(item, index) {
    const li = document.createElement("li");
    li.className = "msg " + item.from;
    if (item.text) {
      const bubble = document.createElement("div");
      bubble.className = "bubble";
      if (item.from === "bot") renderText(bubble, item); else bubble.textContent = item.text;
      if (item.measures && item.measures.length) bubble.dataset.measures = item.measures.join(",");
      if (item.related && item.related.number) bubble.dataset.related = String(item.related.number);
      li.appendChild(bubble);
    }
    if (item.buttons && item.buttons.length) {
      const row = document.createElement("div");
      row.className = "buttons";
      item.buttons.forEach(function (b) {
        const btn = document.createElement("button");
        btn.type = "button";
        btn.textContent = b.title;
        if (b.payload === "/feedback_positive" || b.payload === "/feedback_negative") btn.className = "feedback";
        btn.disabled = !!item.used;
        btn.addEventListener("click", function () {
          if (btn.className === "feedback") { item.used = true; save(); row.querySelectorAll(".feedback").forEach(function (x) { x.disabled = true; }); }
          send(b.payload, b.title);
        });
        row.appendChild(btn);
      });
      li.appendChild(row);
    }
    log.appendChild(li);
    log.scrollTop = log.scrollHeight;
  }

  function add(item) { history.push(item); save(); render(item); }

  // What the page keeps of a reply's custom payload.
  function takeCustom(item, custom) {
    if (Array.isArray(custom.measures)) item.measures = custom.measures;
    if (custom.citation && typeof custom.answer === "string") { item.citation = custom.citation; item.answer = custom.answer; }
    if (custom.related_citation) item.related = custom.related_citation;
  }

  // Rasa's REST channel sends a reply's custom payload as a message of its own after the text:
  // it is joined to that text before the reply is shown, so the citation is drawn at once.
  function addBotMessages(messages) {
    const items = [];
    messages.forEach(function (m) {
      if (m.custom && !m.text) {
        if (items.length) { takeCustom(items[items.length - 1], m.custom); return; }
        // the payload of a reply already shown: keep its measures
        const last = history[history.length - 1];
        if (last && last.from === "bot" && m.custom.measures) {
          last.measures = m.custom.measures; save();
          const bubbles = log.querySelectorAll(".msg.bot .bubble");
          if (bubbles.length) bubbles[bubbles.length - 1].dataset.measures = m.custom.measures.join(",");
        }
        return;
      }
      const item = { from: "bot", text: m.text || "", buttons: m.buttons || [], measures: [] };
      if (m.custom) takeCustom(item, m.custom);
      items.push(item);
    });
    items.forEach(add);
  }

  // Rate limited: nothing is sent before blockedUntil (ms since the epoch).
  let blockedUntil = 0, unblockTimer = null;
  function blocked() { return Date.now() < blockedUntil; }

  function retryAfterSeconds(header) {
    const seconds = /^\s*\d+\s*$/.test(header || "") ? parseInt(header, 10) : DEFAULT_WAIT_S;
    return Math.min(Math.max(seconds, 1), MAX_WAIT_S);
  }

  function waitBeforeSending(seconds, text) {
    blockedUntil = Date.now() + seconds * 1000;
    sendButton.disabled = true;
    status.textContent = text;
    clearTimeout(unblockTimer);
    unblockTimer = setTimeout(function () {
      sendButton.disabled = false;
      if (status.textContent === text) status.textContent = "";
    }, seconds * 1000);
  }

  // 429: the body is the bot's messages with the polite text (the server guarantees one).
  function rateLimited(r) {
    return r.json().catch(function () { return []; }).then(function (messages) {
      const texts = (Array.isArray(messages) ? messages : []).map(function (m) { return m && m.text; })
        .filter(function (t) { return typeof t === "string" && t; });
      waitBeforeSending(retryAfterSeconds(r.headers.get("Retry-After")), texts.join("\n") || strings.unavailable);
    });
  }

  let pending = false;
  function send(text, shown) {
    // One message at a time: a second one sent before the answer would race it in the dialogue.
    if (pending || blocked()) return Promise.resolve();
    pending = true;
    if (shown !== null) add({ from: "user", text: shown || text });
    status.textContent = strings.thinking;
    return fetch("/api/message", {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ sender: sender, message: text })
    }).then(function (r) {
      if (r.status === 429) return rateLimited(r);
      if (!r.ok) throw new Error("HTTP " + r.status);
      return r.json().then(function (messages) {
        status.textContent = "";
        addBotMessages(messages);
      });
    }).catch(function () {
      status.textContent = strings.unavailable;
    }).then(function () { pending = false; });
  }

  form.addEventListener("submit", function (e) {
    e.preventDefault();
    const text = input.value.trim();
    if (!text || pending || blocked()) return;
    input.value = "";
    send(text);
  });

  document.getElementById("restart").addEventListener("click", function () {
    history = []; save(); log.innerHTML = ""; sender = newSender(); send("/greet", null);
  });

  history.forEach(render);
  if (!history.length) send("/greet", null);
})();
