// Chapter pages: live relevance (the server decides the same without JavaScript), saving in the
// background and on Save without leaving the page, and a copy of every unsaved change kept in this
// browser until the server has confirmed exactly that content (docs/saving.md).
(function () {
  "use strict";
  const form = document.getElementById("chapter-form");
  if (!form) return;

  // -- relevance ---------------------------------------------------------------------------------

  function answersOf(section) {
    const answers = {};
    section.querySelectorAll("fieldset[data-question]").forEach((fs) => {
      const q = fs.dataset.question;
      const inputs = fs.querySelectorAll("input[type=radio], input[type=checkbox]:not([name=keep_theirs])");
      if (inputs.length) {
        const picked = Array.from(inputs).filter((i) => i.checked).map((i) => i.value);
        answers[q] = inputs[0].type === "checkbox" ? picked : (picked[0] || null);
      } else {
        const t = fs.querySelector("textarea");
        answers[q] = t && t.value.trim() ? t.value : null;
      }
    });
    return answers;
  }

  function holds(rule, answers) {
    if (rule.op === "and") return rule.parts.every((p) => holds(p, answers));
    if (rule.op === "or") return rule.parts.some((p) => holds(p, answers));
    if (rule.op === "not") return !holds(rule.parts[0], answers);
    const v = answers[rule.q];
    const empty = v === null || v === undefined || v === "" || (Array.isArray(v) && !v.length);
    if (rule.op === "answered") return !empty;
    if (empty) return false;
    const hit = (Array.isArray(v) ? v : [v]).some((c) => rule.codes.includes(c));
    return rule.op === "==" || rule.op === "in" ? hit : !hit;
  }

  function applyRelevance(section) {
    const rules = JSON.parse(section.dataset.rules || "{}");
    const answers = answersOf(section);
    const shown = {};
    section.querySelectorAll("fieldset[data-question]").forEach((fs) => {
      const rule = rules[fs.dataset.question];
      fs.hidden = !(!rule || holds(rule, shown));
      if (!fs.hidden) shown[fs.dataset.question] = answers[fs.dataset.question];
    });
  }

  const sectionOf = (el) => (el && el.closest ? el.closest("section[data-provision]") : null);
  const sectionById = (id) => form.querySelector('section[data-provision="' + CSS.escape(id) + '"]');
  form.querySelectorAll("section[data-provision]").forEach(applyRelevance);
  ["input", "change"].forEach((type) => form.addEventListener(type, (e) => {
    const section = sectionOf(e.target);
    if (section) applyRelevance(section);
  }));
  // Without fetch the form posts as it does without JavaScript (the server returns to '_at').
  if (form.dataset.autosave !== "on" || !window.fetch) return;

  // -- state -------------------------------------------------------------------------------------

  const status = document.getElementById("autosave-status");
  const saveButton = document.getElementById("save-button");
  const atInput = form.querySelector('input[name="_at"]');
  const keepKey = form.dataset.keepKey;
  const edited = new Map();  // provision id -> edit number of its last change; gone once the server confirmed it
  let editCount = 0, timer = null, retryDelay = 0, expired = false, leaving = false, failedHref = null;
  let kept = null;  // a copy kept by an earlier visit, neither put back nor discarded yet
  let keptHere = true;  // false when this browser refused the copy (storage full or off)
  let queue = Promise.resolve();
  const statusText = document.createElement("span");
  if (status) { statusText.textContent = status.textContent; status.textContent = ""; status.append(statusText); }

  const msg = (key) => (status && status.dataset[key]) || "";
  const say = (text) => { statusText.textContent = text; };
  const provisionOf = (name) => name.slice(0, Math.max(name.indexOf("."), 0));

  // Name/value pairs of the given provisions as the form would post them (answers, tokens, the
  // 'present' marker, "Keep theirs" choices), by provision.
  function fieldsOf(ids) {
    const out = new Map(ids.map((id) => [id, []]));
    for (const [name, value] of new FormData(form).entries()) {
      const pairs = out.get(provisionOf(name === "keep_theirs" ? value : name));
      if (pairs) pairs.push([name, value]);
    }
    return out;
  }

  const isAnswer = ([name]) => name !== "keep_theirs" && !name.endsWith(".v") && !name.endsWith(".present");
  const answerKey = (pairs) => JSON.stringify(pairs.filter(isAnswer).map((p) => JSON.stringify(p)).sort());
  const sameAnswers = (a, b) => answerKey(a) === answerKey(b);

  // Put pairs back into one provision's inputs; tokens too when `withTokens` (a kept copy).
  function setValues(section, pairs, withTokens) {
    const id = section.dataset.provision;
    const values = new Map();
    pairs.forEach(([n, v]) => values.set(n, (values.get(n) || []).concat([v])));
    section.querySelectorAll("input, textarea").forEach((el) => {
      if (el.form !== form || !(el.name === "keep_theirs" || el.name.startsWith(id + "."))) return;
      const given = values.get(el.name) || [];
      if (el.type === "radio" || el.type === "checkbox") el.checked = given.includes(el.value);
      else if (el.type === "hidden") { if (withTokens && el.name.endsWith(".v") && given.length) el.value = given[given.length - 1]; }
      else if (given.length) el.value = given[given.length - 1];
    });
    applyRelevance(section);
  }

  // -- the copy kept in this browser -------------------------------------------------------------

  function keepLocally() {
    const provisions = kept ? Object.assign({}, kept.provisions) : {};
    fieldsOf(Array.from(edited.keys())).forEach((pairs, id) => { provisions[id] = pairs; });
    try {
      if (Object.keys(provisions).length) {
        localStorage.setItem(keepKey, JSON.stringify({ at: new Date().toISOString(), provisions }));
      } else {
        localStorage.removeItem(keepKey);
      }
      keptHere = true;
    } catch (e) {
      keptHere = false;  // storage full or switched off: only the page holds the text now
    }
  }

  function offerKeptCopy() {
    let stored = null;
    try { stored = JSON.parse(localStorage.getItem(keepKey) || "null"); } catch (e) { /* unreadable: ignore */ }
    if (!stored || !stored.provisions) return;
    const ids = Object.keys(stored.provisions).filter((id) => sectionById(id));
    const shown = fieldsOf(ids);
    const differing = {};
    ids.forEach((id) => { if (!sameAnswers(stored.provisions[id], shown.get(id))) differing[id] = stored.provisions[id]; });
    if (!Object.keys(differing).length) { localStorage.removeItem(keepKey); return; }
    kept = { at: stored.at, provisions: differing };
    const notice = document.createElement("span");
    notice.className = "restore-notice";
    notice.append(msg("msgRestore") + " ");
    const button = (text, action) => {
      const b = document.createElement("button");
      b.type = "button"; b.className = "small"; b.textContent = text;
      b.addEventListener("click", () => { notice.remove(); action(); });
      notice.append(b, " ");
      return b;
    };
    button(msg("msgRestoreApply"), () => {
      Object.entries(kept.provisions).forEach(([id, pairs]) => {
        setValues(sectionById(id), pairs, true);
        edited.set(id, ++editCount);
      });
      kept = null;
      keepLocally();
      save({ render: true });
    });
    button(msg("msgRestoreDiscard"), () => { kept = null; keepLocally(); });
    say("");
    if (status) status.append(notice);
  }

  // -- saving ------------------------------------------------------------------------------------

  function post(ids, render) {
    const body = new FormData();
    const all = new FormData(form);
    body.append("csrf_token", all.get("csrf_token") || "");
    body.append("_at", all.get("_at") || "");
    fieldsOf(ids).forEach((pairs) => pairs.forEach(([n, v]) => body.append(n, v)));
    const headers = { "X-Autosave": "1", "Accept": "application/json" };
    if (render) headers["X-Render"] = "sections";
    return fetch(location.pathname, { method: "POST", body, credentials: "same-origin", headers });
  }

  async function freshCsrf() {
    // The user logged in again elsewhere: the session, and with it the CSRF token, is new.
    try {
      const resp = await fetch(form.dataset.csrfUrl, { credentials: "same-origin", headers: { Accept: "application/json" } });
      const token = resp.ok && (await resp.json()).csrf_token;
      if (!token) return false;
      document.querySelectorAll('input[name="csrf_token"]').forEach((i) => { i.value = token; });
      return true;
    } catch (e) {
      return false;
    }
  }

  // One save at a time, in order; resolves true when everything it sent is confirmed saved.
  function save(opts) {
    const run = queue.then(() => send(opts || {}));
    queue = run.catch(() => false);
    return run;
  }

  async function send(opts) {
    clearTimeout(timer);
    // Autosave leaves alone a provision showing both versions: the user chooses, then presses Save.
    const ids = Array.from(edited.keys()).filter((id) => opts.render || !sectionById(id).querySelector(".conflict"));
    if (!ids.length && !opts.explicit) return edited.size === 0;
    const sent = new Map(ids.map((id) => [id, edited.get(id)]));
    if (opts.explicit && saveButton) saveButton.disabled = true;
    say(msg("msgSaving"));
    try {
      let resp, data;
      try {
        resp = await post(ids, opts.render);
        data = await resp.json().catch(() => ({}));
        if (resp.status === 400 && data.error === "csrf" && await freshCsrf()) {
          resp = await post(ids, opts.render);
          data = await resp.json().catch(() => ({}));
        }
      } catch (e) {
        // msg-offline says the changes are kept in this browser: only when that is true.
        return retryLater(msg(keptHere ? "msgOffline" : "msgUnsaved"));
      }
      if (resp.status === 401) {
        expired = true;
        say(msg("msgExpired"));
        return false;
      }
      expired = false;
      if (!data.progress) {  // refused as a whole: csrf, read_only, storage, or not our server at all
        say(data.message || msg(keptHere ? "msgOffline" : "msgUnsaved"));
        // Retry only what may pass later (server or storage trouble); a refusal stays refused.
        return resp.status >= 500 || resp.status === 429 ? retryLater(null) : false;
      }
      retryDelay = 0;
      const trouble = new Set((data.conflicts || []).map((c) => c.provision));
      Object.keys(data.errors || {}).forEach((field) => trouble.add(provisionOf(field)));
      if (opts.render && data.sections) swapSections(data.sections, true);
      const conflicted = new Set((data.conflicts || []).map((c) => c.field + ".v"));
      Object.entries(data.tokens || {}).forEach(([name, token]) => {
        const input = form.querySelector('input[type=hidden][name="' + CSS.escape(name) + '"]');
        if (input && !conflicted.has(name)) input.value = token;
      });
      const resolved = [];
      sent.forEach((count, id) => {
        if (trouble.has(id) || edited.get(id) !== count) return;
        edited.delete(id);
        if (sectionById(id).querySelector(".conflict, .field-error")) resolved.push(id);
      });
      keepLocally();
      showProgress(data.progress);
      if (resolved.length) refreshSections(resolved);
      if (resp.ok) {
        say(edited.size ? msg("msgUnsaved") : msg("msgSaved") + " " + new Date().toLocaleTimeString(document.documentElement.lang) + ".");
        return edited.size === 0;
      }
      if (opts.render) {
        say(data.message || msg(resp.status === 409 ? "msgConflict" : "msgInvalid"));
        focusFirstProblem(trouble);
      } else {
        say(msg(resp.status === 409 ? "msgConflict" : "msgInvalid"));
      }
      return false;
    } finally {
      if (opts.explicit && saveButton) saveButton.disabled = false;
    }
  }

  function retryLater(text) {
    if (text) say(text);
    retryDelay = Math.min(Math.max(retryDelay * 2, 15000), 120000);
    schedule(retryDelay);
    return false;
  }

  function schedule(ms) { clearTimeout(timer); timer = setTimeout(() => save(), ms); }

  // Replace provision sections with server-rendered ones, keeping the user's place on the page and,
  // with `keepTyped`, what they typed since the save was sent.
  function swapSections(html, keepTyped) {
    const anchor = Array.from(form.querySelectorAll("section[data-provision]"))
      .find((s) => s.getBoundingClientRect().bottom > 0);
    const anchorId = anchor && anchor.dataset.provision;
    const before = anchor ? anchor.getBoundingClientRect().top : 0;
    const focused = document.activeElement && sectionOf(document.activeElement) ? document.activeElement : null;
    const ids = Object.keys(html).filter((id) => sectionById(id));
    const typed = fieldsOf(ids);
    ids.forEach((id) => {
      const template = document.createElement("template");
      template.innerHTML = html[id];
      const fresh = template.content.querySelector("section[data-provision]");
      if (!fresh) return;
      const old = sectionById(id);
      old.replaceWith(fresh);
      if (keepTyped) setValues(fresh, typed.get(id), false);
      else applyRelevance(fresh);
      if (focused && old.contains(focused)) {
        const same = fresh.querySelector('[name="' + CSS.escape(focused.name) + '"]');
        if (same) same.focus({ preventScroll: true });
      }
    });
    const now = anchorId && sectionById(anchorId);
    if (now) window.scrollBy(0, now.getBoundingClientRect().top - before);
  }

  // After a conflict or an error was resolved: show the provision as stored (their value where
  // the user kept theirs), without the two-version box.
  async function refreshSections(ids) {
    try {
      const resp = await fetch(location.pathname, { credentials: "same-origin" });
      if (!resp.ok) return;
      const page = new DOMParser().parseFromString(await resp.text(), "text/html");
      const html = {};
      ids.forEach((id) => {
        const section = page.querySelector('section[data-provision="' + CSS.escape(id) + '"]');
        if (section && !edited.has(id)) html[id] = section.outerHTML;
      });
      swapSections(html, false);
    } catch (e) { /* the page still shows what the user chose; a reload shows it as stored */ }
  }

  function focusFirstProblem(ids) {
    const first = Array.from(form.querySelectorAll("fieldset.has-conflict, fieldset.has-error"))
      .find((fs) => ids.has(sectionOf(fs).dataset.provision));
    const target = first && first.querySelector("input:not([type=hidden]), textarea");
    if (target) target.focus();
  }

  function showProgress(progress) {
    Object.entries(progress.chapters || {}).forEach(([key, [answered, applicable]]) => {
      const span = document.querySelector('nav.sidebar li[data-chapter="' + CSS.escape(key) + '"] span.progress');
      if (!span || span.textContent === answered + "/" + applicable) return;
      const [oldAnswered, oldApplicable] = span.textContent.split("/");
      span.title = replaceInOrder(span.title, [oldAnswered, oldApplicable], [answered, applicable]);
      span.textContent = answered + "/" + applicable;
      span.classList.toggle("done", applicable > 0 && answered === applicable);
    });
    const overall = document.getElementById("overall-progress");
    if (overall && typeof progress.percent === "number" && overall.dataset.percent !== String(progress.percent)) {
      overall.textContent = replaceInOrder(overall.textContent, [overall.dataset.percent], [progress.percent]);
      overall.dataset.percent = progress.percent;
    }
  }

  // Replace numbers in a translated sentence, first occurrence after the previous one.
  function replaceInOrder(text, olds, news) {
    let at = 0;
    olds.forEach((old, i) => {
      const k = text.indexOf(String(old), at);
      if (k < 0) return;
      text = text.slice(0, k) + news[i] + text.slice(k + String(old).length);
      at = k + String(news[i]).length;
    });
    return text;
  }

  // -- events ------------------------------------------------------------------------------------

  function edit(e, delay) {
    const section = sectionOf(e.target);
    if (!section || e.target.form !== form) return;  // e.g. a copy form's source select
    edited.set(section.dataset.provision, ++editCount);
    if (atInput) atInput.value = section.dataset.provision;
    leaving = false; failedHref = null;
    keepLocally();
    say(msg("msgUnsaved"));
    if (e.target.name !== "keep_theirs") schedule(delay);  // a choice between versions waits for Save
  }
  form.addEventListener("input", (e) => edit(e, 3000));
  form.addEventListener("change", (e) => edit(e, 1500));

  form.addEventListener("submit", (e) => {
    e.preventDefault();
    save({ explicit: true, render: true });
  });

  // Copy (and undo) forms: save what is typed first, so the copy starts from the saved answers.
  document.addEventListener("submit", (e) => {
    const target = e.target;
    if (!target.matches || !target.matches("form.copy-form, form.undo-form")) return;
    e.preventDefault();
    save({ render: true }).then((ok) => {
      if (!ok) return;  // the status says why; nothing is copied over unsaved text
      leaving = true;
      HTMLFormElement.prototype.submit.call(target);
    });
  });

  // Chapter links: save first, then go; if that fails, stay (a second click goes anyway).
  document.addEventListener("click", (e) => {
    const link = e.target.closest && e.target.closest("nav.sidebar a[href], nav.chapter-nav a[href], p.crumbs a[href]");
    if (!link || e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    if (!edited.size || link.href === failedHref) return;
    e.preventDefault();
    save({ render: true }).then((ok) => {
      if (ok) { leaving = true; location.href = link.href; } else failedHref = link.href;
    });
  });

  window.addEventListener("beforeunload", (e) => {
    if (!edited.size) return;
    keepLocally();
    if (leaving) return;
    e.preventDefault();
    e.returnValue = "";
  });
  window.addEventListener("online", () => { if (edited.size) save(); });
  // Back from logging in again in another tab: save what waited.
  window.addEventListener("focus", () => { if (expired && edited.size) save(); });

  try { localStorage.removeItem("survey-unsaved:" + location.pathname); } catch (e) { /* older key */ }
  offerKeptCopy();
})();
