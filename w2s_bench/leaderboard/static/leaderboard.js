// w2s-bench leaderboard: sortable and filterable tables, and the figures. Plain JavaScript, no framework.
//
// Tables (class "board"): clicking a header sorts its rows, ascending first, descending on the next click.
// A header's data-type says how: "number" sorts by each cell's data-value (empty = n/a, always last),
// "text" by the cell's text. Filters (index page): a text box matched against a row's text, a family and a
// method select matched against the row's data-family / data-method; a section whose data-family is not
// the selected family is hidden whole. Figures: plotly.js specifications read from the JSON block
// #figure-data (built in Python, w2s_bench/leaderboard/figures.py), drawn into each div[data-figure].
(function () {
  "use strict";

  function sortKey(row, column, numeric) {
    var cell = row.cells[column];
    if (!numeric) {
      return cell ? cell.textContent.trim().toLowerCase() : "";
    }
    var raw = cell ? cell.getAttribute("data-value") : "";
    return raw === null || raw === "" ? NaN : parseFloat(raw);
  }

  function sortTable(table, header) {
    var column = header.cellIndex;
    var numeric = header.getAttribute("data-type") === "number";
    var ascending = header.getAttribute("aria-sort") !== "ascending";
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = sortKey(a, column, numeric), y = sortKey(b, column, numeric);
      if (numeric) {
        if (isNaN(x) || isNaN(y)) {
          return isNaN(x) - isNaN(y); // n/a last whichever the direction
        }
        return ascending ? x - y : y - x;
      }
      var order = x.localeCompare(y);
      return ascending ? order : -order;
    });
    rows.forEach(function (row) { body.appendChild(row); });
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th) { th.removeAttribute("aria-sort"); });
    header.setAttribute("aria-sort", ascending ? "ascending" : "descending");
  }

  document.querySelectorAll("table.board").forEach(function (table) {
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (header) {
      header.addEventListener("click", function () { sortTable(table, header); });
    });
  });

  var text = document.getElementById("filter");
  var family = document.getElementById("family-filter");
  var method = document.getElementById("method-filter");
  var shown = document.getElementById("shown");

  function applyFilters() {
    var words = text.value.trim().toLowerCase().split(/\s+/).filter(Boolean);
    var visible = 0, total = 0;
    document.querySelectorAll("section.group[data-family]").forEach(function (section) {
      section.hidden = family.value !== "" && section.getAttribute("data-family") !== family.value;
    });
    document.querySelectorAll("table.board tbody tr").forEach(function (row) {
      var content = row.textContent.toLowerCase();
      var rowFamily = row.getAttribute("data-family");
      row.hidden = !words.every(function (word) { return content.indexOf(word) !== -1; }) ||
        (method.value !== "" && row.getAttribute("data-method") !== method.value) ||
        (family.value !== "" && rowFamily !== null && rowFamily !== family.value);
      total += 1;
      visible += row.hidden ? 0 : 1;
    });
    shown.textContent = visible === total ? "" : visible + " of " + total + " rows shown";
  }

  var filters = document.getElementById("filters");
  if (filters) {  // filtering is live: Enter must not submit (no inline handler: the page's CSP blocks those)
    filters.addEventListener("submit", function (event) { event.preventDefault(); });
  }

  if (text && family && method && shown) {
    [text, family, method].forEach(function (control) {
      control.addEventListener("input", applyFilters);
      control.addEventListener("change", applyFilters);
    });
  }

  var data = document.getElementById("figure-data");
  if (data) {
    var figures = JSON.parse(data.textContent);
    document.querySelectorAll("div[data-figure]").forEach(function (div) {
      var figure = figures[div.getAttribute("data-figure")];
      if (typeof Plotly === "undefined") {
        div.textContent = "plotly.min.js did not load (assets/ missing?): figure not drawn.";
        return;
      }
      Plotly.newPlot(div, figure.data, figure.layout, { displaylogo: false, responsive: true });
    });
  }
}());
