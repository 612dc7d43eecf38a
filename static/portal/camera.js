// Progressive enhancement of the selfie form: where the browser offers a
// camera, take the picture in the page and put it in the file input. The
// plain file input keeps working without JavaScript or camera.
(function () {
  "use strict";
  var form = document.getElementById("selfie-form");
  var input = document.getElementById("id_photo");
  var startButton = document.getElementById("camera-start");
  var box = document.getElementById("camera");
  var video = document.getElementById("camera-video");
  var capture = document.getElementById("camera-capture");
  if (!form || !navigator.mediaDevices || !navigator.mediaDevices.getUserMedia ||
      typeof DataTransfer === "undefined") {
    return;
  }
  var stream = null;
  var taken = document.getElementById("camera-taken");
  // "Take the photo" only once the camera shows a picture: never a blank frame.
  function running() {
    return Boolean(stream) && video.readyState >= 2 && video.videoWidth > 0;
  }
  startButton.hidden = false;
  capture.disabled = true;
  startButton.addEventListener("click", function () {
    navigator.mediaDevices.getUserMedia({ video: { facingMode: "user" }, audio: false })
      .then(function (s) {
        stream = s;
        video.srcObject = s;
        box.hidden = false;
        startButton.hidden = true;
        video.addEventListener("loadeddata", function () { capture.disabled = !running(); });
        capture.disabled = !running();
      })
      .catch(function () { startButton.hidden = true; });
  });
  capture.addEventListener("click", function () {
    if (!running()) { return; }
    capture.disabled = true;
    var canvas = document.createElement("canvas");
    canvas.width = video.videoWidth || 640;
    canvas.height = video.videoHeight || 480;
    canvas.getContext("2d").drawImage(video, 0, 0, canvas.width, canvas.height);
    canvas.toBlob(function (blob) {
      var transfer = new DataTransfer();
      transfer.items.add(new File([blob], "camera.jpg", { type: "image/jpeg" }));
      input.files = transfer.files;
      if (taken) { taken.hidden = false; }
      if (stream) { stream.getTracks().forEach(function (t) { t.stop(); }); }
      form.submit();
    }, "image/jpeg", 0.92);
  });
})();
