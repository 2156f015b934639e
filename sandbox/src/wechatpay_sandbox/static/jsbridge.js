/*
 * WeixinJSBridge as WeChat's browser provides it, emulated by the WeChat Pay sandbox (development only).
 *
 * Load it with <script src="{sandbox}/sandbox/jsbridge.js">. After DOMContentLoaded it defines
 * window.WeixinJSBridge and fires "WeixinJSBridgeReady" on document, asynchronously, as WeChat does.
 * invoke("getBrandWCPayRequest", params, callback) sends the params and location.href to the sandbox,
 * which checks them as WeChat does, then shows WeChat's error text or a pay sheet:
 * 支付 -> callback({err_msg: "get_brand_wcpay_request:ok"}), 取消 -> ":cancel", a refusal -> ":fail".
 *
 * Elements (for tests): #wxsandbox-sheet, #wxsandbox-merchant, #wxsandbox-amount, #wxsandbox-pay,
 * #wxsandbox-cancel; #wxsandbox-error, #wxsandbox-error-text, #wxsandbox-error-ok.
 * Styles are set through the CSSOM only, so a page whose CSP forbids inline styles still shows them.
 */
(function () {
  "use strict";
  if (window.__wxSandboxBridge) {
    return;
  }
  var script = document.currentScript;
  var sandbox = new URL(script ? script.src : "/", location.href).origin;
  window.__wxSandboxBridge = sandbox;
  var LAYER = "2147483000";

  function call(path, body) {
    // text/plain keeps it a simple CORS request (no preflight); no cookies, as WeChat needs none.
    return fetch(sandbox + "/sandbox/jsbridge/" + path, {
      method: "POST", mode: "cors", credentials: "omit", cache: "no-store",
      headers: {"Content-Type": "text/plain;charset=UTF-8"}, body: JSON.stringify(body)
    }).then(function (response) { return response.json(); });
  }

  function element(tag, id, text, style) {
    var node = document.createElement(tag);
    if (id) {
      node.id = id;
      node.setAttribute("data-testid", id);
    }
    if (text) {
      node.textContent = text;
    }
    Object.keys(style || {}).forEach(function (name) { node.style[name] = style[name]; });
    return node;
  }

  function remove(id) {
    var node = document.getElementById(id);
    if (node) {
      node.parentNode.removeChild(node);
    }
  }

  function layer(id) {
    remove(id);
    return element("div", id, null, {
      position: "fixed", left: "0", top: "0", right: "0", bottom: "0", zIndex: LAYER,
      background: "rgba(0, 0, 0, 0.5)", fontFamily: "-apple-system, 'PingFang SC', sans-serif"
    });
  }

  function button(id, text, primary) {
    var node = element("button", id, text, {
      display: "block", width: "100%", border: "0", borderRadius: "8px", padding: "12px", marginTop: "12px",
      fontSize: "17px", cursor: "pointer", background: primary ? "#07c160" : "#f2f2f2",
      color: primary ? "#fff" : "#06ae56"
    });
    node.type = "button";
    return node;
  }

  function showError(message) {
    var root = layer("wxsandbox-error");
    var box = element("div", null, null, {
      position: "absolute", left: "50%", top: "40%", transform: "translate(-50%, -50%)", width: "80%",
      maxWidth: "320px", background: "#fff", borderRadius: "12px", padding: "24px 20px 16px",
      textAlign: "center", color: "#191919", fontSize: "16px"
    });
    box.appendChild(element("div", "wxsandbox-error-text", message, {lineHeight: "1.5", wordBreak: "break-all"}));
    var ok = button("wxsandbox-error-ok", "确定", false);
    ok.addEventListener("click", function () { remove("wxsandbox-error"); });
    box.appendChild(ok);
    root.appendChild(box);
    document.body.appendChild(root);
  }

  function showSheet(sheet, onPay, onCancel) {
    var root = layer("wxsandbox-sheet");
    var box = element("div", null, null, {
      position: "absolute", left: "50%", bottom: "0", transform: "translateX(-50%)", width: "100%",
      maxWidth: "420px", boxSizing: "border-box", background: "#fff", borderRadius: "12px 12px 0 0",
      padding: "20px 20px 28px", textAlign: "center", color: "#191919"
    });
    box.appendChild(element("div", null, "微信支付", {color: "#888", fontSize: "14px"}));
    box.appendChild(element("div", "wxsandbox-merchant", sheet.merchant_name, {fontSize: "17px", marginTop: "16px"}));
    box.appendChild(element("div", "wxsandbox-description", sheet.description, {color: "#888", fontSize: "14px"}));
    box.appendChild(element("div", "wxsandbox-amount", sheet.amount,
                            {fontSize: "36px", fontWeight: "600", margin: "12px 0 8px"}));
    var pay = button("wxsandbox-pay", "支付", true);
    var cancel = button("wxsandbox-cancel", "取消", false);
    pay.addEventListener("click", function () {
      pay.disabled = cancel.disabled = true;
      onPay();
    });
    cancel.addEventListener("click", function () {
      pay.disabled = cancel.disabled = true;
      onCancel();
    });
    box.appendChild(pay);
    box.appendChild(cancel);
    root.appendChild(box);
    document.body.appendChild(root);
  }

  function payRequest(params, callback) {
    var reply = typeof callback === "function" ? callback : function () {};
    function fail(message) {
      remove("wxsandbox-sheet");
      showError(message);
      reply({err_msg: "get_brand_wcpay_request:fail", err_desc: message});
    }
    function unreachable() {
      fail("网络错误，请稍后再试");
    }
    call("request", {params: params || {}, url: location.href}).then(function (sheet) {
      if (!sheet.ok) {
        fail(sheet.message);
        return;
      }
      var session = {prepay_id: sheet.prepay_id, ticket: sheet.ticket};
      showSheet(sheet, function () {
        call("pay", session).then(function (paid) {
          if (!paid.ok) {
            fail(paid.message);
            return;
          }
          remove("wxsandbox-sheet");
          reply({err_msg: "get_brand_wcpay_request:ok"});
        }, unreachable);
      }, function () {
        remove("wxsandbox-sheet");
        call("cancel", session).catch(function () {});
        reply({err_msg: "get_brand_wcpay_request:cancel"});
      });
    }, unreachable);
  }

  var bridge = {
    invoke: function (name, params, callback) {
      if (name === "getBrandWCPayRequest") {
        payRequest(params, callback);
      } else if (typeof callback === "function") {
        callback({err_msg: name + ":fail"});  // the sandbox emulates only the pay sheet
      }
    },
    call: function () {},  // closeWindow, hideOptionMenu...: nothing to do in a browser
    on: function () {}
  };

  function ready() {
    setTimeout(function () {
      window.WeixinJSBridge = bridge;
      document.dispatchEvent(new Event("WeixinJSBridgeReady"));
    }, 0);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", ready);
  } else {
    ready();
  }
})();
