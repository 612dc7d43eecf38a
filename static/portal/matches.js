// The matches page: "all of these are me" and "none of these is me" answer
// every face at once; each face shows the answer it has.
(function () {
  "use strict";
  var form = document.getElementById("matches-form");
  var bar = form && form.querySelector(".answer-all");
  if (!bar) { return; }
  function mark(item) {
    var mine = item.querySelector("input[value=mine]");
    var notMine = item.querySelector("input[value=not_mine]");
    item.classList.toggle("answered-mine", mine.checked);
    item.classList.toggle("answered-not-mine", notMine.checked);
  }
  var items = form.querySelectorAll("li.match");
  Array.prototype.forEach.call(items, function (item) {
    item.addEventListener("change", function () { mark(item); });
  });
  Array.prototype.forEach.call(bar.querySelectorAll("button[data-answer]"), function (button) {
    button.addEventListener("click", function () {
      var answer = button.getAttribute("data-answer");
      Array.prototype.forEach.call(items, function (item) {
        item.querySelector("input[value=" + answer + "]").checked = true;
        mark(item);
      });
    });
  });
  bar.hidden = false;
})();
