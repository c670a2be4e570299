// Chapter pages: live relevance (the server decides the same without JavaScript) and background
// autosave of unsaved changes, with a copy kept in this browser until the server confirms it.
(function () {
  "use strict";
  const form = document.getElementById("chapter-form");
  if (!form) return;
  const status = document.getElementById("autosave-status");
  const storageKey = "survey-unsaved:" + location.pathname;

  function answersOf(section) {
    const answers = {};
    section.querySelectorAll("fieldset[data-question]").forEach((fs) => {
      const q = fs.dataset.question;
      const inputs = fs.querySelectorAll("input[type=radio], input[type=checkbox]:not([name=keep_theirs])");
      if (inputs.length) {
        const picked = Array.from(inputs).filter((i) => i.checked).map((i) => i.value);
        const multiple = inputs[0].type === "checkbox";
        answers[q] = multiple ? picked : (picked[0] || null);
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
    const picked = Array.isArray(v) ? v : [v];
    const hit = picked.some((c) => rule.codes.includes(c));
    return rule.op === "==" || rule.op === "in" ? hit : !hit;
  }

  function applyRelevance(section) {
    const rules = JSON.parse(section.dataset.rules || "{}");
    const answers = answersOf(section);
    const shown = {};
    section.querySelectorAll("fieldset[data-question]").forEach((fs) => {
      const rule = rules[fs.dataset.question];
      const visible = !rule || holds(rule, shown);
      fs.hidden = !visible;
      if (visible) shown[fs.dataset.question] = answers[fs.dataset.question];
    });
  }

  form.querySelectorAll("section[data-provision]").forEach((section) => {
    section.addEventListener("change", () => applyRelevance(section));
    applyRelevance(section);
  });

  if (form.dataset.autosave !== "on") return;
  let dirty = false, timer = null, saving = false;
  const changed = new Set();  // provisions edited since the last save: autosave sends only these

  function changedSections(target) {
    const section = target && target.closest && target.closest("section[data-provision]");
    if (section) changed.add(section.dataset.provision);
  }

  function payload() {
    // The CSRF token plus every field of the changed provisions (slow connections send little).
    const data = new FormData();
    const all = new FormData(form);
    const prefixes = Array.from(changed).map((id) => id + ".");
    for (const [name, value] of all.entries()) {
      if (name === "csrf_token" || prefixes.some((p) => name.startsWith(p))) data.append(name, value);
    }
    return data;
  }

  function say(text) { if (status) status.textContent = text; }
  function msg(key, fallback) { return (status && status.dataset[key]) || fallback; }

  function keepLocally() {
    try { localStorage.setItem(storageKey, JSON.stringify(Array.from(new FormData(form).entries()))); } catch (e) { /* storage full or off */ }
  }

  async function save() {
    if (!dirty || saving) return;
    saving = true; dirty = false;
    const body = payload();
    const sent = new Set(changed);
    changed.clear();
    say(msg("msgSaving", "Saving…"));
    try {
      const resp = await fetch(location.pathname, {
        method: "POST", body: body, credentials: "same-origin",
        headers: { "X-Autosave": "1", "Accept": "application/json" },
      });
      const data = await resp.json().catch(() => ({}));
      if (data.tokens) {
        Object.entries(data.tokens).forEach(([name, token]) => {
          const input = form.querySelector('input[type=hidden][name="' + CSS.escape(name) + '"]');
          if (input) input.value = token;
        });
      }
      if (resp.ok) {
        localStorage.removeItem(storageKey);
        say(msg("msgSaved", "All changes saved at") + " " + new Date().toLocaleTimeString() + ".");
      } else if (resp.status === 401) {
        dirty = true;
        say(msg("msgExpired", "Your session has expired."));
      } else if (resp.status === 409 && data.conflicts) {
        say(msg("msgConflict", "Conflict: press Save."));
      } else if (resp.status === 422) {
        say(msg("msgInvalid", "Some answers could not be saved."));
      } else {
        dirty = true;
        say(data.message || msg("msgOffline", "Not saved yet; will retry."));
      }
    } catch (e) {
      dirty = true;
      say(msg("msgOffline", "Not saved yet; will retry."));
    } finally {
      if (dirty) sent.forEach((id) => changed.add(id));
      saving = false;
      if (dirty) schedule(15000);
    }
  }

  function schedule(ms) { clearTimeout(timer); timer = setTimeout(save, ms); }
  form.addEventListener("input", (e) => { changedSections(e.target); dirty = true; keepLocally(); say(msg("msgUnsaved", "Unsaved changes…")); schedule(3000); });
  form.addEventListener("change", (e) => { changedSections(e.target); dirty = true; keepLocally(); schedule(1500); });
  form.addEventListener("submit", () => { clearTimeout(timer); localStorage.removeItem(storageKey); });
  window.addEventListener("beforeunload", (e) => { if (dirty) { keepLocally(); e.preventDefault(); e.returnValue = ""; } });
})();
