// The camera check: one frame per pose, in the order the server asked.
(function () {
  "use strict";
  var form = document.getElementById("live-form");
  var video = document.getElementById("live-video");
  var start = document.getElementById("live-start");
  var capture = document.getElementById("live-capture");
  var prompt = document.getElementById("live-prompt");
  if (!form || !navigator.mediaDevices || !navigator.mediaDevices.getUserMedia ||
      typeof DataTransfer === "undefined") {
    if (start) { start.disabled = true; }
    return;
  }
  var steps = Array.prototype.slice.call(document.querySelectorAll("#live-steps li"));
  var index = 0;
  var stream = null;
  function ask() {
    steps.forEach(function (li, i) { li.classList.toggle("current", i === index); });
    prompt.textContent = steps[index].textContent;
  }
  start.addEventListener("click", function () {
    navigator.mediaDevices.getUserMedia({ video: { facingMode: "user" }, audio: false })
      .then(function (s) {
        stream = s;
        video.srcObject = s;
        start.hidden = true;
        capture.hidden = false;
        ask();
      })
      .catch(function () { prompt.textContent = start.getAttribute("data-denied") || ""; });
  });
  capture.addEventListener("click", function () {
    var canvas = document.createElement("canvas");
    canvas.width = video.videoWidth || 640;
    canvas.height = video.videoHeight || 480;
    canvas.getContext("2d").drawImage(video, 0, 0, canvas.width, canvas.height);
    var current = index;
    canvas.toBlob(function (blob) {
      var transfer = new DataTransfer();
      transfer.items.add(new File([blob], "frame" + current + ".jpg", { type: "image/jpeg" }));
      document.getElementById("frame_" + current).files = transfer.files;
      index += 1;
      if (index < steps.length) { ask(); return; }
      if (stream) { stream.getTracks().forEach(function (t) { t.stop(); }); }
      form.submit();
    }, "image/jpeg", 0.92);
  });
})();
