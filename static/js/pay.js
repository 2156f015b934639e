// Pay pages: tick the countdown, poll the order's status every 2 s, warn 5 and 1 minutes before the
// deadline, show only the expired state after it (still polling: a payment made at the last moment may
// arrive, and then the page turns to success; once the order is closed it reloads); inside WeChat, open WeChat's pay sheet; ask before
// cancelling. Without this script the pages still work: they refresh themselves and the server asks.
(function () {
  "use strict";
  var root = document.getElementById("pay");
  if (!root) return;
  var left = parseInt(root.dataset.secondsLeft, 10) || 0;
  var deadline = Date.now() + left * 1000;
  var clock = document.getElementById("countdown");
  var state = document.getElementById("pay-state");
  var finished = false;
  var expired = false;
  var warned = {};

  function pad(n) { return (n < 10 ? "0" : "") + n; }
  function say(text) { if (state) state.textContent = text; }
  function hide(id) { var node = document.getElementById(id); if (node) node.hidden = true; }

  function showExpired() {
    if (expired) return;
    expired = true;
    if (clock) clock.textContent = "00:00";
    var title = document.getElementById("pay-title");
    if (title) title.textContent = "支付已超时";
    var qr = document.getElementById("pay-qr");
    if (qr) { qr.alt = "二维码已失效"; qr.closest(".qr").hidden = true; }
    ["pay-jsapi", "pay-h5", "pay-actions", "pay-switch", "pay-cancel", "paid-done", "pay-again"].forEach(hide);
    say("支付已超时");
    document.getElementById("pay-expired").hidden = false;
  }

  function tick() {
    if (finished || expired) return;
    var seconds = Math.max(0, Math.round((deadline - Date.now()) / 1000));
    if (clock) clock.textContent = pad(Math.floor(seconds / 60)) + ":" + pad(seconds % 60);
    [[300, "剩余支付时间约 5 分钟"], [60, "剩余支付时间约 1 分钟，请尽快完成支付"]].forEach(function (warning) {
      if (seconds <= warning[0] && seconds > warning[0] - 30 && !warned[warning[0]]) {
        warned[warning[0]] = true;
        say(warning[1]);
      }
    });
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
          say("支付成功，正在跳转…");
          window.location.assign(root.dataset.successUrl);
        } else if (data.status === "closed") {
          finished = true;  // the server's page says how it ended
          window.location.reload();
        } else if (data.status === "expired") {
          showExpired();
        } else {
          deadline = Date.now() + data.seconds_left * 1000;  // stay true to the server's clock
        }
      })
      .catch(function () { /* offline for a moment: the next poll tries again */ });
  }

  // Inside WeChat: WeChat's pay sheet. Its ":ok" is not proof of payment: the status poll decides.
  function payInWeChat() {
    var parameters = JSON.parse(root.dataset.jsapi);
    var button = document.getElementById("pay-jsapi");
    function invoke() {
      button.hidden = true;
      window.WeixinJSBridge.invoke("getBrandWCPayRequest", parameters, function (result) {
        var message = (result && result.err_msg) || "";
        if (/:ok$/.test(message)) {
          say("正在确认支付结果…");
          poll();
        } else {
          button.hidden = false;
          say(/:cancel$/.test(message) ? "您已取消支付，可以点击“立即支付”重新支付。"
            : "支付未完成" + (result && result.err_desc ? "：" + result.err_desc : "") + "，可以重试或换一种方式支付。");
        }
      });
    }
    button.addEventListener("click", invoke);
    if (window.WeixinJSBridge) invoke();
    else document.addEventListener("WeixinJSBridgeReady", invoke, false);
  }

  var cancel = document.getElementById("pay-cancel");
  if (cancel) {
    cancel.addEventListener("submit", function (event) {
      if (!window.confirm(cancel.dataset.confirm)) { event.preventDefault(); return; }
      var confirmed = document.createElement("input");
      confirmed.type = "hidden";
      confirmed.name = "confirm";
      confirmed.value = "1";
      cancel.appendChild(confirmed);
    });
  }
  if (root.dataset.jsapi) payInWeChat();
  tick();
  setInterval(tick, 1000);
  setInterval(poll, 2000);
})();
