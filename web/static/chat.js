// A thin chat widget over the web server's /api/message (which forwards to Rasa's REST channel).
// An answer's source line and reminder are drawn from its custom payload ("answer" and
// "citation": document, date, year, label, title, number), filled into the page's templates
// (the "strings" template of index.html holds every text the script shows, the other templates
// the markup of browse-by-topic and of the FAQ and example-question cards); no reply wording
// is read here.
// The conversation (sender id and messages) is kept in localStorage, so it survives a reload, and
// so is the large-text mode (also turned on by ?mode=large). Only what the server stored is kept:
// a message is saved once answered, as the X-Stored-Message header gives it when the server hid
// a number in it (and earlier messages' parts of a number, X-Stored-Earlier, are replaced too);
// messages expire after 7 days; a stored history that is malformed or over 1 MB is dropped; and
// the clear button (#clear) removes the history and the sender id from the device.
// When the server answers 429 (sending too fast) the page shows the polite text of the answer and
// sends nothing until the Retry-After seconds have passed. Browse-by-topic lists GET /api/topics: choosing a measure sends its payload as a
// message, then offers its example questions; the welcome is followed by GET /api/faq's questions.
// A screen reader hears each answer through the #announcer live region.
(function () {
  "use strict";
  const SENDER_KEY = "gxga.sender", HISTORY_KEY = "gxga.history", LARGE_KEY = "gxga.large", MAX_HISTORY = 200;
  const MAX_AGE_MS = 7 * 24 * 3600 * 1000, MAX_STORED_CHARS = 1000000, MAX_ITEM_CHARS = 20000;
  const FEEDBACK = ["/feedback_positive", "/feedback_negative"];
  // a button title's leading emoji (the thumbs-up of feedback): shown, but not read out
  const LEADING_EMOJI = /^(\p{Extended_Pictographic}\uFE0F?)\s*/u;
  const log = document.getElementById("log");
  const form = document.getElementById("ask");
  const input = document.getElementById("input");
  const status = document.getElementById("status");
  const announcer = document.getElementById("announcer");
  const sendButton = document.getElementById("send");
  const largeButton = document.getElementById("large");
  const browse = document.getElementById("browse");
  const browseToggle = document.getElementById("browse-toggle");
  const browsePanel = document.getElementById("browse-panel");
  const DEFAULT_WAIT_S = 60, MAX_WAIT_S = 600;
  const strings = {};
  document.getElementById("strings").content.querySelectorAll("[data-key]").forEach(function (el) {
    strings[el.dataset.key] = el.textContent;
  });

  // A copy of the content of the page's <template id="...">.
  function fromTemplate(id) { return document.getElementById(id).content.cloneNode(true); }

  function stored(key) { try { return localStorage.getItem(key); } catch (e) { return null; } }
  function store(key, value) { try { localStorage.setItem(key, value); } catch (e) { /* private mode: not kept */ } }
  function forget(key) { try { localStorage.removeItem(key); } catch (e) { /* private mode: nothing kept */ } }

  // --- large-text mode: on with ?mode=large (off with ?mode=normal), otherwise as last chosen ----
  function setLarge(on) {
    document.documentElement.classList.toggle("large", on);
    largeButton.setAttribute("aria-pressed", on ? "true" : "false");
    store(LARGE_KEY, on ? "1" : "0");
  }
  const mode = new URLSearchParams(location.search).get("mode");
  setLarge(mode === "large" || (mode !== "normal" && stored(LARGE_KEY) === "1"));
  largeButton.addEventListener("click", function () {
    setLarge(largeButton.getAttribute("aria-pressed") !== "true");
    log.scrollTop = log.scrollHeight;  // the text reflowed: the latest messages stay in view
    // the choice now outlasts the link's ?mode=: a reload keeps what was chosen
    if (mode !== null && window.history.replaceState) {
      const url = new URL(location.href);
      url.searchParams.delete("mode");
      window.history.replaceState(null, "", url.pathname + url.search + url.hash);
    }
  });

  function newSender() {
    const id = (window.crypto && crypto.randomUUID) ? crypto.randomUUID() : String(Date.now()) + Math.random().toString(16).slice(2);
    store(SENDER_KEY, id);
    return id;
  }
  let sender = stored(SENDER_KEY) || newSender();
  // A kept message the page can draw, of the last 7 days (anything else in localStorage is dropped).
  function drawable(item) {
    return !!item && typeof item === "object" && (item.from === "user" || item.from === "bot") &&
      typeof item.at === "number" && Date.now() - item.at < MAX_AGE_MS &&
      (item.text === undefined || (typeof item.text === "string" && item.text.length <= MAX_ITEM_CHARS)) &&
      (item.buttons === undefined || (Array.isArray(item.buttons) && item.buttons.length <= 50 && item.buttons.every(function (b) {
        return !!b && typeof b === "object" && typeof b.payload === "string";
      })));
  }
  function keptHistory() {
    const raw = stored(HISTORY_KEY);
    if (!raw) return [];
    let items = null;
    try { items = raw.length <= MAX_STORED_CHARS ? JSON.parse(raw) : null; } catch (e) { items = null; }
    if (!Array.isArray(items)) { forget(HISTORY_KEY); return []; }
    return items.slice(-MAX_HISTORY).filter(drawable);
  }
  let history = keptHistory();

  // A message sent but not yet answered is not kept: what is kept is what the server stored.
  function save() {
    store(HISTORY_KEY, JSON.stringify(history.filter(function (item) { return !item.pending; }).slice(-MAX_HISTORY)));
  }

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

  // What a screen reader hears of a new bot message: the answer and its source line.
  function spoken(item) {
    if (item.kind) return "";
    if (item.citation && typeof item.answer === "string") return item.answer + "\n" + fill(strings.citation, item.citation);
    return item.text || "";
  }

  // Read out the bot's new messages (emptied first, so the same answer twice is read twice).
  let announceTimer = null;
  function announce(items) {
    const text = items.map(spoken).filter(Boolean).join("\n");
    if (!text) return;
    announcer.textContent = "";
    clearTimeout(announceTimer);
    announceTimer = setTimeout(function () { announcer.textContent = fill(strings.announce, { text: text }); }, 100);
  }

  // A reply button: its title, a leading emoji hidden from screen readers; 👍/👎 are named by the
  // "feedback_label" string (their title without the emoji, and what it rates).
  function replyButton(b, item, row) {
    const btn = document.createElement("button");
    btn.type = "button";
    const title = String(b.title || "");
    const emoji = title.match(LEADING_EMOJI);
    const words = emoji ? title.slice(emoji[0].length) : title;
    if (emoji) {
      const icon = document.createElement("span");
      icon.setAttribute("aria-hidden", "true");
      icon.textContent = emoji[1];
      btn.append(icon, " " + words);
    } else {
      btn.textContent = title;
    }
    const feedback = FEEDBACK.indexOf(b.payload) >= 0;
    if (feedback) {
      btn.className = "feedback";
      btn.setAttribute("aria-label", fill(strings.feedback_label, { title: words }));
      btn.disabled = !!item.used;
    }
    btn.addEventListener("click", function () {
      if (feedback) {
        if (item.used) return;
        item.used = true; save();
        row.querySelectorAll(".feedback").forEach(function (x) { x.disabled = true; });
        input.focus();  // the pressed button is disabled now: keep the keyboard where the next question goes
      }
      send(b.payload, title);
    });
    return btn;
  }

  // A card of questions to tap (kind "faq" under the welcome, "examples" after a measure chosen
  // under browse-by-topic): its heading from the page's template, the questions as a list of buttons.
  function renderCard(li, item) {
    const bubble = document.createElement("div");
    bubble.className = "bubble card";
    bubble.appendChild(fromTemplate(item.kind === "faq" ? "faq-card" : "examples-card"));
    const list = document.createElement("ul");
    list.className = "buttons choices";
    (item.buttons || []).forEach(function (b) {
      const entry = document.createElement("li");
      const btn = document.createElement("button");
      btn.type = "button";
      btn.textContent = b.title;
      btn.addEventListener("click", function () { send(b.payload, b.title); });
      entry.appendChild(btn);
      list.appendChild(entry);
    });
    bubble.appendChild(list);
    li.appendChild(bubble);
  }

  function render(item) {
    const li = document.createElement("li");
    li.className = "msg " + item.from + (item.kind ? " " + item.kind : "");
    if (item.kind) {
      renderCard(li, item);
      log.appendChild(li);
      return li;
    }
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
      item.buttons.forEach(function (b) { row.appendChild(replyButton(b, item, row)); });
      li.appendChild(row);
    }
    log.appendChild(li);
    return li;
  }

  // The log scrolled to its end; or, when a reply is taller than the log, to the reply's start.
  function scrollTo(first) {
    const end = log.scrollHeight;
    if (first && end - first.offsetTop > log.clientHeight) log.scrollTop = Math.max(first.offsetTop - 8, 0);
    else log.scrollTop = end;
  }

  function add(item) { item.at = Date.now(); history.push(item); save(); const li = render(item); scrollTo(null); return li; }

  // The resident's message as the server stored it (a number hidden), in the page and in storage;
  // and the earlier messages whose parts of a number this one completed (newest first: each must
  // end with its part, as the server checked).
  function showStored(mine, li, r, typed) {
    let text = null, earlier = [];
    try { text = JSON.parse(r.headers.get("X-Stored-Message") || "null"); } catch (e) { text = null; }
    try { earlier = JSON.parse(r.headers.get("X-Stored-Earlier") || "[]"); } catch (e) { earlier = []; }
    if (mine && mine.text === typed && typeof text === "string") {  // typed, not a button's title
      mine.text = text;
      const bubble = li && li.querySelector(".bubble");
      if (bubble) bubble.textContent = text;
    }
    if (!Array.isArray(earlier)) return;
    const users = Array.prototype.slice.call(log.querySelectorAll(".msg.user"));
    const asked = history.filter(function (x) { return x.from === "user" && !x.kind; });
    let back = mine ? 1 : 0;  // this message's own bubble is the last
    for (let i = earlier.length - 1; i >= 0; i--, back++) {
      const part = earlier[i], target = asked[asked.length - 1 - back];
      if (!Array.isArray(part) || typeof part[0] !== "string" || typeof part[1] !== "string" || !target) return;
      if (typeof target.text !== "string" || !target.text.endsWith(part[0])) return;
      if (/[^\s\p{P}\p{S}]/u.test(part[0])) {  // a part that is not only separators
        target.text = target.text.slice(0, target.text.length - part[0].length) + part[1];
        const bubble = users[users.length - 1 - back] && users[users.length - 1 - back].querySelector(".bubble");
        if (bubble) bubble.textContent = target.text;
      }
    }
  }

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
      if (!m || typeof m !== "object") return;
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
      const buttons = (Array.isArray(m.buttons) ? m.buttons : []).filter(function (x) {
        return !!x && typeof x === "object" && typeof x.payload === "string";
      });
      const item = { from: "bot", text: typeof m.text === "string" ? m.text : "", buttons: buttons, measures: [], at: Date.now() };
      if (m.custom) takeCustom(item, m.custom);
      items.push(item);
    });
    const shown = items.map(function (item) { history.push(item); return { item: item, li: render(item) }; });
    save();
    scrollTo(shown.length ? shown[0].li : null);
    announce(items);
    return shown;
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
      return false;
    });
  }

  // Send one message; resolves to the bot's messages shown ({item, li}; none is still an
  // answer), or false when there was no answer.
  let pending = false;
  function send(text, shown) {
    // One message at a time: a second one sent before the answer would race it in the dialogue.
    if (pending || blocked()) return Promise.resolve(false);
    pending = true;
    const mine = shown !== null ? { from: "user", text: shown || text, pending: true } : null;
    const li = mine ? add(mine) : null;
    status.textContent = strings.thinking;
    return fetch("/api/message", {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ sender: sender, message: text })
    }).then(function (r) {
      if (r.status === 429) return rateLimited(r);
      if (!r.ok) throw new Error("HTTP " + r.status);
      return r.json().then(function (messages) {
        status.textContent = "";
        showStored(mine, li, r, text);
        if (mine) delete mine.pending;
        return addBotMessages(Array.isArray(messages) ? messages : []);
      });
    }).catch(function () {
      status.textContent = strings.unavailable;
      return false;
    }).then(function (answered) { pending = false; return answered; });
  }

  form.addEventListener("submit", function (e) {
    e.preventDefault();
    const text = input.value.trim();
    if (!text || pending || blocked()) return;
    input.value = "";
    send(text);
  });

  // --- the FAQ card under the welcome (GET /api/faq) ----------------------------------------------
  function getJson(path) {
    return fetch(path).then(function (r) {
      if (!r.ok) throw new Error("HTTP " + r.status);
      return r.json();
    });
  }
  let faqQuestions = null;
  function faq() {
    if (!faqQuestions) {
      faqQuestions = getJson("/api/faq").then(function (body) {
        return (body && Array.isArray(body.questions) ? body.questions : [])
          .filter(function (q) { return q && typeof q.text === "string" && q.text; }).slice(0, 6);
      }).catch(function () { faqQuestions = null; return []; });
    }
    return faqQuestions;
  }

  // The welcome's own example questions that the FAQ card lists too are taken off the welcome.
  function dropListed(shown, texts) {
    shown.forEach(function (s) {
      if (!s.item.buttons || !s.item.buttons.length) return;
      s.item.buttons = s.item.buttons.filter(function (b) { return texts.indexOf(b.title) < 0; });
      const row = s.li.querySelector(".buttons");
      row.querySelectorAll("button").forEach(function (btn) { if (texts.indexOf(btn.textContent) >= 0) btn.remove(); });
      if (!row.children.length) row.remove();
    });
  }

  // The welcome message, then the FAQ card (tapping one sends its text, as if typed).
  function welcome() {
    const questions = faq();
    return send("/greet", null).then(function (shown) {
      if (!shown) return;
      return questions.then(function (list) {
        if (!list.length) return;
        const texts = list.map(function (q) { return q.text; });
        dropListed(shown, texts);
        add({ from: "bot", kind: "faq", buttons: texts.map(function (t) { return { title: t, payload: t }; }) });
      });
    });
  }

  document.getElementById("restart").addEventListener("click", function () {
    history = []; save(); log.innerHTML = ""; sender = newSender(); welcome();
  });
  // the clear button: the history and the sender id leave this device; a new conversation begins
  document.getElementById("clear").addEventListener("click", function () {
    history = []; forget(HISTORY_KEY); forget(SENDER_KEY); log.innerHTML = "";
    sender = newSender();
    welcome().then(function () { status.textContent = strings.cleared; });
  });

  // --- browse-by-topic (GET /api/topics): the notice's sections, a button per measure ------------
  function setBrowseOpen(open) {
    browseToggle.setAttribute("aria-expanded", open ? "true" : "false");
    browsePanel.hidden = !open;
  }
  browseToggle.addEventListener("click", function () {
    setBrowseOpen(browseToggle.getAttribute("aria-expanded") !== "true");
  });
  browsePanel.addEventListener("keydown", function (e) {
    if (e.key === "Escape") { setBrowseOpen(false); browseToggle.focus(); }
  });

  // A measure chosen: its answer as if asked (the payload through /api/message, shown as the
  // measure's label and title), then its example questions to tap.
  function chooseMeasure(measure) {
    setBrowseOpen(false);
    browseToggle.focus();
    const examples = (Array.isArray(measure.examples) ? measure.examples : [])
      .filter(function (q) { return typeof q === "string" && q; }).slice(0, 3);
    send(measure.payload, fill(strings.chosen_measure, measure)).then(function (answered) {
      if (answered && examples.length) {
        add({ from: "bot", kind: "examples", buttons: examples.map(function (q) { return { title: q, payload: q }; }) });
      }
    });
  }

  function renderTopics(sections) {
    const holder = document.getElementById("topics");
    sections.forEach(function (section) {
      if (!section || typeof section !== "object") return;
      const measures = (Array.isArray(section.measures) ? section.measures : [])
        .filter(function (m) { return m && typeof m.payload === "string" && m.payload; });
      if (!measures.length) return;
      const block = fromTemplate("topic-section");
      block.querySelector(".topic-name").textContent = section.name || "";
      const list = block.querySelector(".measures");
      measures.forEach(function (m) {
        const entry = fromTemplate("topic-measure");
        entry.querySelector(".measure-label").textContent = m.label || "";
        entry.querySelector(".measure-title").textContent = m.title || "";
        entry.querySelector("button").dataset.number = String(m.number);
        entry.querySelector("button").addEventListener("click", function () { chooseMeasure(m); });
        list.appendChild(entry);
      });
      holder.appendChild(block);
    });
    browse.hidden = !holder.children.length;
  }

  getJson("/api/topics").then(function (body) {
    if (body && Array.isArray(body.sections)) renderTopics(body.sections);
  }).catch(function () { /* no browse-by-topic without the list: asking still works */ });

  history.forEach(render);
  scrollTo(null);
  if (!history.length) welcome();
})();
