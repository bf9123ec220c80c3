/* Drives Mono's Connect widget (or the sandbox's look-alike) on the dashboard (link) and, through
 * window.MonolinkWidget, on the re-auth page (static/js/reauth-page.js holds that page's state machine).
 *
 * Everything the script needs comes from data- attributes (CSP forbids inline script):
 *   #connect-config  data-key (public key), data-flow ("reauth" | "link"), data-mode ("token" | "account")
 *   [data-action=link] button: data-complete-url
 * Connect keeps its callbacks on its prototype, so one instance is made per click: two instances
 * alive at once would share (and overwrite) each other's onSuccess.
 */
(function () {
  "use strict";

  var config = document.getElementById("connect-config");
  var statusBox = document.getElementById("widget-status");
  if (!config || !statusBox) return;
  var key = config.dataset.key;

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    if (meta && meta.content) return meta.content;
    var match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  /* One status region (aria-live) for every message; a retry button when there is something to retry. */
  function say(kind, text, retry) {
    if (!text) {
      statusBox.className = "status";
      statusBox.textContent = "";
      return;
    }
    statusBox.className = "status message " + (kind === "error" ? "error" : kind === "ok" ? "success" : "info");
    statusBox.textContent = text;
    if (retry) {
      var button = document.createElement("button");
      button.type = "button";
      button.className = "retry";
      button.textContent = "Try again";
      button.addEventListener("click", retry);
      statusBox.appendChild(document.createTextNode(" "));
      statusBox.appendChild(button);
    }
  }

  /* POST JSON to our server; resolves with the JSON answer of any 2xx (202: still pending), rejects with
   * an Error carrying our readable message (and .status / .body, so a caller can tell "already
   * reconnected" from a failure). */
  function postJSON(url, data) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken(), Accept: "application/json" },
      body: JSON.stringify(data || {}),
    }).then(function (response) {
      return response
        .json()
        .catch(function () {
          return {};
        })
        .then(function (body) {
          if (!response.ok) {
            var error = new Error(body.message || "The server could not record this (HTTP " + response.status + ").");
            error.status = response.status;
            error.body = body;
            throw error;
          }
          return body;
        });
    });
  }

  /* POST {code, ...extra}. */
  function postCode(url, code, extra) {
    return postJSON(url, Object.assign({ code: code }, extra || {}));
  }

  /* Mono's own window shows its errors while it is open; once it is closed the page says what happened,
   * once, blaming the right party: a code or password the bank refused is not "a problem with the window". */
  var USER_INPUT_ERROR = /AUTH|CREDENTIAL|PASSWORD|OTP|MFA|CODE|INPUT/i;
  function sentence(text) {
    text = String(text || "").trim();
    return /[.!?…]$/.test(text) ? text : text + ".";
  }
  function closedMessage(lastError) {
    if (!lastError) return "You closed the window before finishing. Nothing was changed.";
    if (USER_INPUT_ERROR.test(lastError.type || "")) {
      return "Your bank didn't accept the details entered, so nothing was changed. You can try again.";
    }
    return "Reconnecting didn't finish: " + sentence(lastError.message || "an unexpected error") + " Nothing was changed.";
  }

  /* Open the widget. `start(connect)` calls setup() or reauthorise(); `done(code)` posts the code;
   * `retry` opens it again. `listen(name, data)`, when given, also hears the widget's events;
   * `onGiveUp(message)`, when given, hears about an attempt that ended without success (the re-auth
   * page puts the card back) before the message is shown. */
  function openWidget(start, done, retry, listen, onGiveUp) {
    function giveUp(message) {
      if (onGiveUp) onGiveUp(message);
      say("error", message, retry);
    }
    /* The user closed Mono's window: their choice, not a fault. A neutral note, and no "Try again":
     * the button that opened the window is right there (and gets the focus back). */
    function closed(message) {
      if (onGiveUp) onGiveUp(message);
      say("info", message);
    }
    if (typeof window.Connect !== "function") {
      giveUp("The secure bank window could not be loaded. Check your internet connection and try again.");
      return;
    }
    var succeeded = false;
    var lastError = null;
    try {
      var connect = new window.Connect({
        key: key,
        onSuccess: function (data) {
          succeeded = true; // onClose fires after a success too: it must not report an abandoned attempt
          var code = data && data.code;
          if (!code) {
            giveUp("Mono's window finished without a confirmation code. Nothing was changed.");
            return;
          }
          say("info", "Saving…");
          done(code);
        },
        onClose: function () {
          if (succeeded) return;
          closed(closedMessage(lastError));
        },
        onEvent: function (name, data) {
          if (listen) listen(name, data);
          if (name === "ERROR") {
            // Shown by Mono inside its window; the page speaks once it is closed (see closedMessage).
            lastError = { type: data && data.errorType, message: data && (data.errorMessage || data.errorType) };
          } else if (name === "OPENED") {
            say("info", "Mono's secure window is open. Follow the steps there.");
          }
        },
      });
      start(connect);
      connect.open();
      say("info", "Opening the secure window…");
    } catch (err) {
      giveUp("The secure bank window could not start: " + sentence((err && err.message) || err));
    }
  }

  function link(button) {
    var retry = function () {
      link(button);
    };
    var institution = ""; // the bank picked in the widget, so the dashboard can say "Linking <bank>…"
    openWidget(
      function (connect) {
        linking = true; // a pending link that finishes meanwhile must not reload the page under the widget
        connect.setup();
      },
      function (code) {
        postCode(button.dataset.completeUrl, code, { institution: institution })
          .then(function (body) {
            // 200 linked, or 202 pending: Mono has not answered yet and the dashboard shows the wait.
            say(body.status === "pending" ? "info" : "ok", body.message || "Linked.");
            linking = false;
            window.location.assign(body.redirect || window.location.href);
          })
          .catch(function (err) {
            linking = false;
            say("error", err.message, retry);
          });
      },
      retry,
      function (name, data) {
        if (name === "INSTITUTION_SELECTED" && data && data.institution && data.institution.name) {
          institution = String(data.institution.name).slice(0, 128);
        } else if (name === "EXIT") {
          linking = false; // closed without success (a wrong one-time code keeps the widget open)
        }
      }
    );
  }

  /* Pending links on the dashboard: ask the server what became of each until Mono has answered.
   * Linked: reload to show the account (unless the widget is open). Failed: show why, with "Try again". */
  var linking = false;
  function watchLinkAttempt(item) {
    var delay = 2000;
    var giveUpAt = (Number(item.dataset.expires) || 0) * 1000 + 120000; // the code's life + the task's last try
    function poll() {
      fetch(item.dataset.statusUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (response) {
          return response.ok ? response.json() : null;
        })
        .catch(function () {
          return null; // offline for a moment: ask again later
        })
        .then(function (body) {
          if (body && body.status === "linked" && !linking) {
            window.location.reload();
            return;
          }
          if (body && body.status === "failed") {
            item.className = item.className.replace("link-pending", "link-failed");
            item.dataset.status = "failed";
            item.querySelector(".link-attempt-message").textContent = body.message;
            item.querySelector(".link-attempt-hint").hidden = true;
            item.querySelector("button[data-action=link]").hidden = false;
            return;
          }
          if (Date.now() > giveUpAt) {
            item.querySelector(".link-attempt-hint").textContent =
              "This is taking longer than it should. Reload the page later to see the result.";
            return;
          }
          delay = Math.min(delay * 1.5, 10000);
          window.setTimeout(poll, delay);
        });
    }
    window.setTimeout(poll, delay);
  }
  Array.prototype.forEach.call(document.querySelectorAll("[data-link-attempt][data-status=pending]"), watchLinkAttempt);

  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("button[data-action=link]");
    if (button) link(button);
  });

  window.MonolinkWidget = { say: say, postJSON: postJSON, postCode: postCode, open: openWidget };
})();
