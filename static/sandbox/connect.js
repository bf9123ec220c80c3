/*
 * monolink sandbox widget: the same JavaScript surface as Mono's connect.js
 * (https://connect.withmono.com/connect.js, npm @mono.co/connect.js), showing a clearly labelled
 * FAKE bank in a dialog on the page instead of Mono's iframe. No real bank is contacted.
 *
 *   const connect = new Connect({key, onSuccess, onClose, onLoad, onEvent, reference, scope, data});
 *   connect.setup();            // link a new account, or
 *   connect.reauthorise(x);     // x: a re-auth token (connect.js <= 2.0.2) or an account id (>= 2.1.0)
 *   connect.open();             // show it; connect.close() hides it
 *
 * On completion it POSTs to the sandbox's fake Mono (/sandbox/complete/, or the script tag's
 * data-complete-url), which answers with the one-time code and then delivers Mono's webhooks to the
 * app. Works under a strict Content-Security-Policy: no inline styles or scripts, no eval; the
 * styles come from sandbox.css next to this file.
 */
(function () {
  "use strict";

  var script = document.currentScript;
  var BASE = script && script.src ? script.src.replace(/[^/?#]*([?#].*)?$/, "") : "/static/sandbox/";
  var COMPLETE_URL = (script && script.getAttribute("data-complete-url")) || "/sandbox/complete/";
  var CSS_URL = BASE + "sandbox.css";
  var ACCOUNT_ID = /^[0-9a-f]{24}$/;
  // The same banks, in the same order, as monolink/mono/sandbox.py BANKS (the order encodes the bank
  // in the last byte of a sandbox account id).
  var BANKS = [
    { name: "GTBank", code: "058" },
    { name: "Access Bank", code: "044" },
    { name: "Zenith Bank", code: "057" },
    { name: "First Bank of Nigeria", code: "011" },
    { name: "United Bank for Africa", code: "033" },
    { name: "Kuda Bank", code: "50211" },
  ];
  var WRONG_OTP = "000000"; // the same rule as the sandbox's hosted page (monolink/mono/sandbox_views.py)
  // What the dialog says under its title, per step: each step's own rules, nothing from another step.
  var NOTES = {
    institutions: "Sandbox bank for testing. No real bank is contacted: choose any bank.",
    credentials: "Sandbox bank for testing. No real bank is contacted: use any username and password.",
    mfa: "Sandbox: no code is sent. Enter any 6 digits; 000000 acts as a wrong code.",
  };
  var noop = function () {};
  var uid = 0;
  var active = null; // only one dialog on the page at a time, like Mono's single iframe

  function required(name) {
    throw new Error(name + " is required");
  }

  function now() {
    return Date.now();
  }

  // --- the stylesheet (loaded once; onLoad fires when it is ready, as Mono's fires on iframe load) --
  var cssPromise = null;
  function loadStyles() {
    if (cssPromise) return cssPromise;
    cssPromise = new Promise(function (resolve) {
      var existing = document.querySelector("link[data-mono-sandbox]");
      if (existing && existing.sheet) return resolve();
      var link = existing || document.createElement("link");
      link.rel = "stylesheet";
      link.href = CSS_URL;
      link.setAttribute("data-mono-sandbox", "");
      link.addEventListener("load", function () { resolve(); });
      link.addEventListener("error", function () { resolve(); }); // still usable, just plain
      if (!existing) document.head.appendChild(link);
    });
    return cssPromise;
  }

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (name) {
      var value = attrs[name];
      if (value === false || value === null || value === undefined) return;
      if (name === "text") node.textContent = value;
      else if (name === "className") node.className = value;
      else node.setAttribute(name, value === true ? "" : value);
    });
    (children || []).forEach(function (child) {
      if (child) node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    });
    return node;
  }

  function bankFromAccountId(accountId) {
    if (!ACCOUNT_ID.test(accountId || "")) return null;
    return BANKS[parseInt(accountId.slice(-2), 16) % BANKS.length];
  }

  function accountIdFromToken(token) {
    // A sandbox token is a django.core.signing value: base64url JSON {"a": accountId, ...}:signature.
    try {
      var segment = String(token).split(":")[0].replace(/-/g, "+").replace(/_/g, "/");
      var json = JSON.parse(atob(segment + "===".slice((segment.length + 3) % 4)));
      return typeof json.a === "string" ? json.a : null;
    } catch (e) {
      return null;
    }
  }

  class Connect {
    constructor(options) {
      var opts = options || {};
      this.key = opts.key || required("PUBLIC_KEY");
      this.onSuccess = typeof opts.onSuccess === "function" ? opts.onSuccess : required("onSuccess callback");
      this.onClose = typeof opts.onClose === "function" ? opts.onClose : noop;
      this.onLoad = typeof opts.onLoad === "function" ? opts.onLoad : noop;
      this.onEvent = typeof opts.onEvent === "function" ? opts.onEvent : noop;
      var config = {};
      Object.keys(opts).forEach(function (k) {
        if (["key", "onSuccess", "onClose", "onLoad", "onEvent"].indexOf(k) === -1) config[k] = opts[k];
      });
      this.config = config;
      this._mode = null; // {kind: "link"} or {kind: "reauth", token|accountId}
      this._dialog = null;
    }

    setup(setupConfig) {
      this.config = Object.assign({}, this.config, setupConfig || {});
      this._mode = { kind: "link" };
      this._load();
    }

    reauthorise(credential) {
      if (!credential) {
        throw new Error("Account ID is required for re-authorisation (Re-auth token is required for reauthorisation)");
      }
      if (typeof credential !== "string") throw new Error("Invalid accountId: must be a string");
      // Both SDK generations: an account id (>= 2.1.0) or a re-auth token (<= 2.0.2).
      this._mode = ACCOUNT_ID.test(credential)
        ? { kind: "reauth", accountId: credential }
        : { kind: "reauth", token: credential };
      this._load();
    }

    open() {
      if (!this._mode) this.setup(); // Mono needs setup() first; the sandbox forgives it
      if (active && active !== this) active._teardown();
      if (this._dialog) return;
      active = this;
      this._returnFocus = document.activeElement;
      this._build();
      var self = this;
      loadStyles().then(function () {
        if (!self._dialog) return;
        self._dialog.backdrop.hidden = false;
        self._renderFirstStep();
        self._emit("OPENED", { timestamp: now() });
      });
    }

    close() {
      if (!this._dialog) return;
      this._teardown();
      this.onClose();
    }

    // --- internals --------------------------------------------------------------------------------

    _emit(name, data) {
      try {
        this.onEvent(name, data);
      } catch (e) {
        if (window.console) console.error(e); // a page's handler must not break the widget
      }
    }

    _load() {
      var self = this;
      loadStyles().then(function () {
        self.onLoad();
        self._emit("LOADED", { timestamp: now() });
      });
    }

    _institution() {
      if (this._mode.kind === "link") return this._bank ? { id: this._bank.code, name: this._bank.name } : null;
      var bank = bankFromAccountId(this._mode.accountId || accountIdFromToken(this._mode.token));
      return bank ? { id: bank.code, name: bank.name } : { id: "sandbox", name: "your bank" };
    }

    _build() {
      var id = "mono-sandbox-" + ++uid;
      var self = this;
      var title = el("h2", { id: id + "-title", className: "mono-sandbox-title" });
      var note = el("p", { id: id + "-note", className: "mono-sandbox-note" });
      var error = el("div", { className: "mono-sandbox-error", role: "alert", hidden: true });
      var body = el("div", { className: "mono-sandbox-body" });
      var closeButton = el("button", {
        type: "button",
        className: "mono-sandbox-close",
        "aria-label": "Close the sandbox bank",
        text: "\u00d7",
      });
      closeButton.addEventListener("click", function () { self._exit(); });
      var dialog = el(
        "div",
        {
          className: "mono-sandbox-dialog",
          role: "dialog",
          "aria-modal": "true",
          "aria-labelledby": id + "-title",
          "aria-describedby": id + "-note",
          tabindex: "-1",
          "data-mono-sandbox-dialog": true,
        },
        [
          el("div", { className: "mono-sandbox-header" }, [
            el("span", { className: "mono-sandbox-tag", text: "SANDBOX" }),
            el("span", { className: "mono-sandbox-brand", text: "Mono Connect (fake)" }),
            closeButton,
          ]),
          title,
          note,
          error,
          body,
        ]
      );
      var backdrop = el("div", { id: "mono-connect--widget-div", className: "mono-sandbox-backdrop", hidden: true }, [
        dialog,
      ]);
      // On the document, so Escape works even if a click moved focus out of the dialog.
      var onKeydown = function (event) { self._onKeydown(event); };
      document.addEventListener("keydown", onKeydown);
      document.body.appendChild(backdrop);
      this._dialog = {
        id: id, backdrop: backdrop, dialog: dialog, title: title, note: note, error: error, body: body, onKeydown: onKeydown,
      };
    }

    _teardown() {
      if (!this._dialog) return;
      document.removeEventListener("keydown", this._dialog.onKeydown);
      this._dialog.backdrop.remove();
      this._dialog = null;
      if (active === this) active = null;
      var back = this._returnFocus;
      this._returnFocus = null;
      if (back && typeof back.focus === "function" && document.contains(back)) back.focus();
    }

    _exit() {
      this._emit("EXIT", { reference: this.config.reference, pageName: this._step, timestamp: now() });
      this.close();
    }

    _onKeydown(event) {
      if (event.key === "Escape") {
        event.preventDefault();
        this._exit();
        return;
      }
      if (event.key !== "Tab" || !this._dialog) return;
      // Keep focus inside the modal dialog.
      var focusable = Array.prototype.filter.call(
        this._dialog.dialog.querySelectorAll("button, input, [href], [tabindex]:not([tabindex='-1'])"),
        function (node) { return !node.disabled && !node.hidden && node.offsetParent !== null; }
      );
      if (!focusable.length) return;
      if (!this._dialog.dialog.contains(document.activeElement)) {
        event.preventDefault();
        focusable[0].focus();
        return;
      }
      var first = focusable[0];
      var last = focusable[focusable.length - 1];
      if (event.shiftKey && document.activeElement === first) {
        event.preventDefault();
        last.focus();
      } else if (!event.shiftKey && document.activeElement === last) {
        event.preventDefault();
        first.focus();
      }
    }

    _showError(message) {
      var error = this._dialog && this._dialog.error;
      if (!error) return;
      error.textContent = message || "";
      error.hidden = !message;
    }

    _render(step, titleText, nodes, focusTarget) {
      var d = this._dialog;
      if (!d) return;
      this._step = step;
      d.dialog.setAttribute("data-step", step);
      d.title.textContent = titleText;
      d.note.textContent = NOTES[step] || "";
      d.body.replaceChildren.apply(d.body, nodes);
      var target = focusTarget || d.body.querySelector("input, button") || d.dialog;
      target.focus();
    }

    _renderFirstStep() {
      this._showError("");
      if (this._mode.kind === "link") this._renderBanks();
      else this._renderCredentials();
    }

    _renderBanks() {
      var self = this;
      var list = el("ul", { className: "mono-sandbox-banks" });
      BANKS.forEach(function (bank) {
        var button = el("button", { type: "button", className: "mono-sandbox-bank", "data-bank-code": bank.code }, [
          el("span", { className: "mono-sandbox-bank-name", text: bank.name }),
          el("span", { className: "mono-sandbox-bank-code", text: "Bank code " + bank.code }),
        ]);
        button.addEventListener("click", function () {
          self._bank = bank;
          self._emit("INSTITUTION_SELECTED", {
            institution: { id: bank.code, name: bank.name },
            authMethod: "internet_banking",
            timestamp: now(),
          });
          self._renderCredentials();
        });
        list.appendChild(el("li", {}, [button]));
      });
      this._render("institutions", "Choose your bank", [list]);
    }

    _field(label, attrs) {
      var inputId = this._dialog.id + "-" + attrs.name;
      var input = el("input", Object.assign({ id: inputId, required: true }, attrs));
      return { input: input, node: el("div", { className: "mono-sandbox-field" }, [
        el("label", { for: inputId, text: label }),
        input,
      ]) };
    }

    _form(fields, submitText, onSubmit) {
      var self = this;
      var submit = el("button", { type: "submit", className: "mono-sandbox-primary", text: submitText });
      var form = el("form", { className: "mono-sandbox-form", novalidate: true }, fields.map(function (f) { return f.node; }).concat([submit]));
      form.addEventListener("submit", function (event) {
        event.preventDefault();
        if (submit.disabled) return;
        onSubmit(submit);
      });
      if (this._mode.kind === "link") {
        var back = el("button", { type: "button", className: "mono-sandbox-secondary", text: "Choose another bank" });
        back.addEventListener("click", function () {
          self._showError("");
          self._renderBanks();
        });
        form.appendChild(back);
      }
      return form;
    }

    _renderCredentials() {
      var self = this;
      var institution = this._institution();
      var username = this._field("Username (any)", { name: "username", type: "text", autocomplete: "off" });
      var password = this._field("Password (any)", { name: "password", type: "password", autocomplete: "off" });
      var form = this._form([username, password], "Log in", function () {
        if (!username.input.value.trim() || !password.input.value) {
          self._showError("Enter a username and a password (anything works in the sandbox).");
          (username.input.value.trim() ? password.input : username.input).focus();
          return;
        }
        self._showError("");
        self._emit("SUBMIT_CREDENTIALS", { institution: institution, authMethod: "internet_banking", timestamp: now() });
        self._renderOtp();
      });
      var heading = this._mode.kind === "reauth" ? "Reconnect " + institution.name : "Log in to " + institution.name;
      this._render("credentials", heading, [form], username.input);
    }

    _renderOtp() {
      var self = this;
      var institution = this._institution();
      var otp = this._field("One-time code", {
        name: "otp",
        type: "text",
        inputmode: "numeric",
        autocomplete: "one-time-code",
        maxlength: "6",
        pattern: "[0-9]{6}",
      });
      var form = this._form([otp], "Submit code", function (submit) {
        var value = otp.input.value.trim();
        if (!/^[0-9]{6}$/.test(value)) {
          self._showError("Enter the 6-digit code.");
          otp.input.focus();
          return;
        }
        self._emit("SUBMIT_MFA", { institution: institution, mfaType: "otp", timestamp: now() });
        if (value === WRONG_OTP) {
          var message = "That code is wrong: 000000 always is in the sandbox. Enter any other 6 digits.";
          self._emit("ERROR", { errorType: "AUTHENTICATION_ERROR", errorMessage: message, timestamp: now() });
          self._showError(message);
          otp.input.value = "";
          otp.input.focus();
          return;
        }
        self._showError("");
        self._complete(submit, otp.input);
      });
      this._render("mfa", "Enter the code your bank sent", [form], otp.input);
    }

    _complete(submit, retryFocus) {
      var self = this;
      var payload = { key: this.key, reference: this.config.reference || null };
      if (this._mode.kind === "link") {
        payload.mode = "link";
        payload.bank_code = this._bank.code;
      } else {
        payload.mode = "reauth";
        if (this._mode.accountId) payload.account_id = this._mode.accountId;
        else payload.token = this._mode.token;
      }
      submit.disabled = true;
      submit.setAttribute("aria-busy", "true");
      submit.textContent = "Connecting\u2026";
      fetch(COMPLETE_URL, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify(payload),
      })
        .then(function (response) {
          return response.json().catch(function () { return {}; }).then(function (body) {
            if (!response.ok || !body.code) throw new Error(body.error || "The sandbox answered " + response.status + ".");
            return body;
          });
        })
        .then(function (body) {
          if (!self._dialog) return; // closed meanwhile
          if (self._mode.kind === "link") {
            self._emit("ACCOUNT_LINKED", { institution: self._institution(), timestamp: now() });
          }
          var data = { code: body.code };
          self.onSuccess(data);
          self._emit("SUCCESS", data);
          self.close(); // Mono closes after success, so onClose fires too
        })
        .catch(function (err) {
          if (!self._dialog) return;
          var message = (err && err.message) || "The sandbox could not complete the connection.";
          self._emit("ERROR", { errorType: "SANDBOX_ERROR", errorMessage: message, timestamp: now() });
          self._showError(message.replace(/\.?$/, ". ") + "Try again.");
          submit.disabled = false;
          submit.removeAttribute("aria-busy");
          submit.textContent = "Submit code";
          retryFocus.focus();
        });
    }
  }

  window.Connect = Connect;
})();
