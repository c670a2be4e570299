// Switching rounds from a select element navigates to that round's page.
document.querySelectorAll("select[data-nav-round]").forEach((s) =>
  s.addEventListener("change", () => { window.location.href = s.value; }));
