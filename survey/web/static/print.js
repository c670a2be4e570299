// The Print button on printable pages (an external file: the CSP allows no inline script).
document.querySelectorAll("[data-print]").forEach((b) => b.addEventListener("click", () => window.print()));
