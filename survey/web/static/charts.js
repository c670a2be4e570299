// Draw every chart on the page from its JSON data block with the plotly.js the app serves.
document.querySelectorAll("[data-figure]").forEach((el) => {
  const source = document.getElementById(el.dataset.figure);
  if (!source || !window.Plotly) return;
  const fig = JSON.parse(source.textContent);
  window.Plotly.newPlot(el, fig.data, fig.layout, { displaylogo: false, responsive: true });
});
