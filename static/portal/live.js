// The camera check: the server shows one pose at a time; for each, a burst
// of frames taken over about a second from the moment it appears is sent
// at once; the server checks it on a worker and answers, when asked, with
// the next pose (or the result).
// One button at a time: "Start" until the camera runs, none while the check
// runs, "Try again" after a failure. No frame is taken before the camera
// shows a picture.
(function () {
  "use strict";
  var form = document.getElementById("live-form");
  var video = document.getElementById("live-video");
  var start = document.getElementById("live-start");
  var again = document.getElementById("live-again");
  var prompt = document.getElementById("live-prompt");
  var steps = document.getElementById("live-steps");
  var errorBox = document.getElementById("live-error");
  var errorText = document.getElementById("live-error-text");
  if (!form || !navigator.mediaDevices || !navigator.mediaDevices.getUserMedia ||
      !window.fetch || !window.FormData) {
    if (start) { start.disabled = true; }
    return;
  }
  var frames = parseInt(form.getAttribute("data-frames"), 10) || 6;
  var interval = 200;  // ms between two frames of a burst
  // Asking for a burst's answer: first after 250 ms, then less and less
  // often (at most every 2 s), giving up after 10 minutes (the server keeps
  // a waiting burst 15 minutes).
  var firstPoll = 250, lastPoll = 2000, patience = 600000;
  var stream = null;
  var sent = null;  // the pose whose burst the server is checking

  function running() {
    return Boolean(stream) && video.readyState >= 2 && video.videoWidth > 0;
  }

  function stop() {
    if (stream) { stream.getTracks().forEach(function (t) { t.stop(); }); stream = null; }
  }

  function fail(message) {
    stop();
    prompt.textContent = "";
    errorText.textContent = message;
    errorBox.hidden = false;
    start.hidden = true;
    again.hidden = false;
    errorBox.focus && errorBox.focus();
  }

  function grab() {
    if (!running()) { return Promise.reject(new Error("camera not running")); }
    return new Promise(function (resolve) {
      var canvas = document.createElement("canvas");
      canvas.width = video.videoWidth;
      canvas.height = video.videoHeight;
      canvas.getContext("2d").drawImage(video, 0, 0, canvas.width, canvas.height);
      canvas.toBlob(resolve, "image/jpeg", 0.9);
    });
  }

  function burst() {
    // The first frame at once, then one every `interval` ms.
    var taken = [];
    return new Promise(function (resolve, reject) {
      function next() {
        if (!running()) { reject(new Error("camera not running")); return; }
        taken.push(grab());
        if (taken.length < frames) { setTimeout(next, interval); return; }
        Promise.all(taken).then(resolve, reject);
      }
      next();
    });
  }

  function send(url, data) {
    return fetch(url, { method: "POST", body: data, credentials: "same-origin",
                        headers: { "Accept": "application/json" } })
      .then(function (response) {
        return response.json().then(function (body) {
          return { ok: response.ok, checking: response.status === 202, body: body };
        });
      });
  }

  function post(step, blobs) {
    var data = new FormData(form);
    data.set("step", step);
    (blobs || []).forEach(function (blob, i) {
      data.append("frames", blob, "frame" + i + ".jpg");
    });
    return send(form.action, data).then(function (result) {
      return result.checking ? wait(result.body.answer, Date.now(), firstPoll) : result;
    });
  }

  // A burst is checked by the server's search workers: ask for the answer
  // until it is there (the next pose, the result, or why the check failed).
  function wait(url, since, poll) {
    return new Promise(function (resolve) { setTimeout(resolve, poll); }).then(function () {
      return send(url, new FormData(form));
    }).then(function (result) {
      if (!result.checking) { return result; }
      if (Date.now() - since > patience) {
        return { ok: false, body: { error: start.getAttribute("data-slow") || "" } };
      }
      return wait(url, since, Math.min(lastPoll, poll * 1.5));
    });
  }

  function showPose(step, label) {
    // The pose being recorded stands out; those before it say they were recorded.
    var item = document.createElement("li");
    item.className = "current";
    item.setAttribute("aria-current", "step");
    item.setAttribute("data-step", step);
    var name = document.createElement("span");
    name.textContent = label;
    var state = document.createElement("span");
    state.className = "state";
    state.textContent = steps.getAttribute("data-now") || "";
    item.appendChild(name);
    item.appendChild(document.createTextNode(" "));
    item.appendChild(state);
    steps.appendChild(item);
    return item;
  }

  function mark(item, className, text) {
    item.className = className;
    item.removeAttribute("aria-current");
    item.querySelector(".state").textContent = text;
  }

  // A pose is marked recorded only once the server accepted its burst;
  // a burst it refused is marked as not passed.
  function settle(ok) {
    if (!sent) { return; }
    if (ok) { mark(sent, "done", "✓ " + (steps.getAttribute("data-recorded") || "")); }
    else { mark(sent, "failed", "✗ " + (steps.getAttribute("data-failed") || "")); }
    sent = null;
  }

  function answer(result) {
    settle(result.ok);
    if (!result.ok) { fail(result.body.error || ""); return; }
    var body = result.body;
    if (body.done) { stop(); window.location.assign(body.next); return; }
    prompt.textContent = body.label;
    prompt.setAttribute("data-step", body.step);
    var item = showPose(body.step, body.label);
    burst().then(function (blobs) {
      sent = item;
      mark(item, "checking", steps.getAttribute("data-checking") || "");
      prompt.textContent = start.getAttribute("data-wait") || "";
      return post(String(body.step), blobs);
    }).then(answer).catch(function () {
      settle(false);
      fail(start.getAttribute("data-denied") || "");
    });
  }

  start.addEventListener("click", function () {
    start.disabled = true;
    // Said on the button, not as an instruction: the prompt speaks of poses only.
    start.textContent = start.getAttribute("data-starting") || start.textContent;
    navigator.mediaDevices.getUserMedia({ video: { facingMode: "user", width: 640, height: 480 },
                                          audio: false })
      .then(function (s) {
        stream = s;
        video.srcObject = s;
        return new Promise(function (resolve) {
          if (running()) { resolve(); return; }
          video.addEventListener("loadeddata", function () { resolve(); }, { once: true });
        });
      })
      .then(function () {
        start.hidden = true;
        return post("begin");
      })
      .then(answer)
      .catch(function () { fail(start.getAttribute("data-denied") || ""); });
  });
})();
