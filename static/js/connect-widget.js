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

  /* POST {code, ...extra} as JSON; resolves with the JSON answer of any 2xx (202: still pending). */
  function postCode(url, code, extra) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken(), Accept: "application/json" },
      body: JSON.stringify(Object.assign({ code: code }, extra || {})),
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

  /* Open the widget. `start(connect)` calls setup() or reauthorise(); `done(code)` posts the code;
   * `listen(name, data)`, when given, also hears the widget's events. */
  function openWidget(start, done, retry, listen) {
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
          if (listen) listen(name, data);
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
    var button = event.target.closest && event.target.closest("button[data-action]");
    if (!button) return;
    if (button.dataset.action === "reauth") reauthorise(button);
    else if (button.dataset.action === "link") link(button);
  });
})();
