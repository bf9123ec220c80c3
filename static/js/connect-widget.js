/* Drives Mono's Connect widget (or the sandbox's look-alike) on the re-auth page and the dashboard.
 *
 * Everything the script needs comes from data- attributes (CSP forbids inline script):
 *   #connect-config  data-key (public key), data-flow ("reauth" | "link"), data-mode ("token" | "account")
 *   [data-action=reauth] buttons: data-credential (token or account id), data-complete-url
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

  function postCode(url, code) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken(), Accept: "application/json" },
      body: JSON.stringify({ code: code }),
    }).then(function (response) {
      return response
        .json()
        .catch(function () {
          return {};
        })
        .then(function (body) {
          if (!response.ok) {
            throw new Error(body.message || "The server could not record this (HTTP " + response.status + ").");
          }
          return body;
        });
    });
  }

  /* Open the widget. `start(connect)` calls setup() or reauthorise(); `done(code)` posts the code. */
  function openWidget(start, done, retry) {
    if (typeof window.Connect !== "function") {
      say("error", "The bank connection window could not be loaded. Check your internet connection.", retry);
      return;
    }
    var succeeded = false;
    var lastError = "";
    try {
      var connect = new window.Connect({
        key: key,
        onSuccess: function (data) {
          succeeded = true; // onClose fires after a success too: it must not report an abandoned attempt
          var code = data && data.code;
          if (!code) {
            say("error", "Your bank's window finished without a confirmation code.", retry);
            return;
          }
          say("info", "Saving…");
          done(code);
        },
        onClose: function () {
          if (succeeded) return;
          // Mono shows its own error inside the widget; once it is closed, ours must still be readable.
          say("error", lastError || "The bank window was closed before you finished. Nothing was changed.", retry);
        },
        onEvent: function (name, data) {
          if (name === "ERROR") {
            var detail = (data && (data.errorMessage || data.errorType)) || "an unknown error";
            lastError = "Your bank's window reported a problem: " + detail + ". Nothing was changed.";
            say("error", lastError, retry);
          } else if (name === "OPENED") {
            say("info", "Mono's secure window is open. Follow the steps there.");
          }
        },
      });
      start(connect);
      connect.open();
      say("info", "Opening your bank's secure window…");
    } catch (err) {
      say("error", "The bank connection window could not start: " + ((err && err.message) || err) + ".", retry);
    }
  }

  function reauthorise(button) {
    var retry = function () {
      reauthorise(button);
    };
    openWidget(
      function (connect) {
        connect.reauthorise(button.dataset.credential); // instead of setup(): the last one called wins
      },
      function (code) {
        postCode(button.dataset.completeUrl, code)
          .then(function (body) {
            say("ok", body.message || "Reconnected, waiting for confirmation from your bank.");
            var item = button.closest("[data-account]");
            var badge = item && item.querySelector("[data-role=badge]");
            if (badge) {
              badge.className = "badge badge-awaiting";
              badge.textContent = "Awaiting confirmation";
            }
            button.hidden = true;
            // The focused button just disappeared: keep keyboard and screen-reader users in place.
            statusBox.setAttribute("tabindex", "-1");
            statusBox.focus();
          })
          .catch(function (err) {
            say("error", err.message, retry);
          });
      },
      retry
    );
  }

  function link(button) {
    var retry = function () {
      link(button);
    };
    openWidget(
      function (connect) {
        connect.setup();
      },
      function (code) {
        postCode(button.dataset.completeUrl, code)
          .then(function (body) {
            say("ok", body.message || "Linked.");
            window.location.assign(body.redirect || window.location.href);
          })
          .catch(function (err) {
            say("error", err.message, retry);
          });
      },
      retry
    );
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("button[data-action]");
    if (!button) return;
    if (button.dataset.action === "reauth") reauthorise(button);
    else if (button.dataset.action === "link") link(button);
  });
})();
