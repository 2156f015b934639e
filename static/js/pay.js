// Pay page: tick the countdown every second and poll the order's status every 2 s.
(function () {
  "use strict";
  var root = document.getElementById("pay");
  if (!root) return;
  var left = parseInt(root.dataset.secondsLeft, 10) || 0;
  var deadline = Date.now() + left * 1000;
  var clock = document.getElementById("countdown");
  var state = document.getElementById("pay-state");
  var finished = false;

  function pad(n) { return (n < 10 ? "0" : "") + n; }

  function showExpired() {
    finished = true;
    clock.textContent = "00:00";
    state.textContent = "支付已超时";
    document.getElementById("pay-expired").hidden = false;
    var qr = root.querySelector(".qr");
    if (qr) qr.classList.add("qr-expired");
  }

  function tick() {
    if (finished) return;
    var seconds = Math.max(0, Math.round((deadline - Date.now()) / 1000));
    clock.textContent = pad(Math.floor(seconds / 60)) + ":" + pad(seconds % 60);
    if (seconds === 0) showExpired();
  }

  function poll() {
    if (finished) return;
    fetch(root.dataset.statusUrl, { headers: { Accept: "application/json" }, cache: "no-store" })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (data) {
        if (!data) return;
        if (data.status === "paid" || data.status === "shipped") {
          finished = true;
          state.textContent = "支付成功，正在跳转…";
          window.location.assign(root.dataset.successUrl);
        } else if (data.status === "expired" || data.status === "closed") {
          showExpired();
        } else {
          deadline = Date.now() + data.seconds_left * 1000;  // stay true to the server's clock
        }
      })
      .catch(function () { /* offline for a moment: the next poll tries again */ });
  }

  setInterval(tick, 1000);
  setInterval(poll, 2000);
})();
