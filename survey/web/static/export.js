// The export build page: follows the build's progress and offers the file when it is ready.
// Without JavaScript the page reloads itself every 5 seconds (a <noscript> refresh) instead.
(() => {
  const box = document.querySelector("[data-build-progress]");
  if (!box) return;
  const url = box.dataset.buildProgress;
  const bar = box.querySelector("progress");
  const text = box.querySelector(".build-text");
  const show = (selector, visible) => { box.querySelector(selector).hidden = !visible; };
  const texts = JSON.parse(document.getElementById("build-texts").textContent);
  const number = new Intl.NumberFormat(document.documentElement.lang);
  let delay = 1000;
  const poll = async () => {
    let build;
    try {
      const response = await fetch(url, { headers: { Accept: "application/json" }, cache: "no-store" });
      if (!response.ok) throw new Error(String(response.status));
      build = await response.json();
    } catch (error) {
      delay = Math.min(delay * 2, 15000); // a lost connection: try again, less often
      setTimeout(poll, delay);
      return;
    }
    delay = 1000;
    bar.value = build.percent;
    bar.textContent = `${build.percent}%`;
    text.textContent = build.status === "queued" ? texts.queued : texts.running
      .replace("{done}", number.format(build.rows_done))
      .replace("{expected}", number.format(build.rows_expected))
      .replace("{percent}", build.percent);
    const working = build.status === "queued" || build.status === "running";
    show(".build-waiting", working);
    show(".build-note", working);
    show(".build-ready", build.ready);
    show(".build-failed", build.status === "failed");
    if (build.status === "failed" && build.error) box.querySelector(".build-error").textContent = build.error;
    if (build.ready) {
      window.location.assign(build.download); // starts the download; this page stays
      return;
    }
    if (working) setTimeout(poll, delay);
  };
  if (!box.querySelector(".build-waiting").hidden) setTimeout(poll, delay);
})();
