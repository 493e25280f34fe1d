// Draws every figure of the page. A figure is JSON in a script element of type application/json whose
// data-figure attribute names the element plotly.js draws it into. When all are drawn (or failed, with
// a message in their place), the body's data-charts attribute becomes "drawn": tools and the page tests
// wait for it.
(function () {
  "use strict";

  function draw() {
    var nodes = Array.prototype.slice.call(document.querySelectorAll("script[data-figure]"));
    var pending = nodes.map(function (node) {
      var target = document.getElementById(node.getAttribute("data-figure"));
      if (!target) {
        return Promise.resolve();
      }
      try {
        var figure = JSON.parse(node.textContent);
        return Plotly.newPlot(target, figure.data, figure.layout, {displayModeBar: false, responsive: true})
          .then(function () { target.setAttribute("data-rendered", "true"); })
          .catch(function (error) { failed(target, error); });
      } catch (error) {
        failed(target, error);
        return Promise.resolve();
      }
    });
    Promise.all(pending).then(function () { document.body.setAttribute("data-charts", "drawn"); });
  }

  function failed(target, error) {
    target.textContent = "This chart could not be drawn: " + (error && error.message ? error.message : error);
    target.setAttribute("data-rendered", "error");
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
  // The console swaps sections in place (htmx): their new figures are drawn once they settle.
  document.addEventListener("htmx:afterSettle", draw);
})();
