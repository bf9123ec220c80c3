/* The re-auth page as a small state machine driven by the server (templates/accounts/reauth.html).
 *
 * Each card ([data-account]) is in one state, always rendered from the same place (setCard):
 *   needs_reauth → busy (credential minted / Mono's window open) → awaiting → ok
 * "awaiting" ends only when the server says so: the page polls the status endpoint until Mono's
 * account_reauthorized webhook has cleared the flag (after the widget's success, and after the user
 * comes back from Mono's hosted page). Once nothing needs the user, "Not now" becomes "Continue";
 * once everything is confirmed the page says so and continues to `next` by itself after a few seconds.
 *
 * Data attributes (no inline script under our CSP): #connect-config data-status-url, data-returned
 * (back from Mono's hosted page);
 * buttons data-credential (account mode) or data-credential-url (token mode: minted at the click),
 * data-complete-url.
 */
(function () {
  "use strict";

  var W = window.MonolinkWidget;
  var config = document.getElementById("connect-config");
  if (!W || !config || config.dataset.flow !== "reauth") return;

  var POLL_MS = 2000;
  var SLOW_POLL_MS = 10000;
  var PATIENCE_MS = Number(config.dataset.patienceMs) || 120000; // then say it takes longer, poll slower
  var GIVE_UP_MS = 15 * 60 * 1000; // the grace period: stop polling, the dashboard will show the outcome
  var AUTO_CONTINUE_SECONDS = 5;

  var cards = Array.prototype.slice.call(document.querySelectorAll("[data-account]"));
  var continueLink = document.querySelector("[data-testid=not-now]");
  var autoContinue = document.querySelector("[data-role=auto-continue]");
  var startedAllDone = cards.every(isDone);
  cards.forEach(function (card) {
    if (card.dataset.state === "awaiting") card.dataset.awaitingSince = String(Date.now());
  });
  var announcer = document.querySelector("[data-role=announcer]");
  var pollTimer = null;
  var countdownTimer = null;

  function part(card, role) {
    return card.querySelector("[data-role=" + role + "]");
  }

  /* The card shows the new state; screen readers hear it once, from here (not a second visible copy). */
  function announce(text) {
    if (announcer) announcer.textContent = text;
  }

  function isDone(card) {
    return card.dataset.state === "ok";
  }

  /* The one place a card changes: badge, text, which actions show. */
  function setCard(card, state, text, badge) {
    card.dataset.state = state;
    if (state !== "awaiting") delete card.dataset.awaitingSince;
    else if (!card.dataset.awaitingSince) card.dataset.awaitingSince = String(Date.now());
    var badgeEl = part(card, "badge");
    if (badge) {
      badgeEl.className = "badge badge-" + (state === "busy" ? "awaiting" : state);
      badgeEl.textContent = badge;
    }
    if (text) {
      var textEl = part(card, "text");
      textEl.textContent = text;
      if (state === "ok") {
        var check = document.createElement("span");
        check.className = "check";
        check.setAttribute("aria-hidden", "true");
        check.textContent = "\u2713 ";
        textEl.insertBefore(check, textEl.firstChild);
      }
    }
    var reconnect = part(card, "reconnect");
    if (reconnect) {
      reconnect.hidden = state !== "needs_reauth" || card.dataset.widget === "missing";
      reconnect.disabled = false;
      reconnect.removeAttribute("aria-busy");
      reconnect.querySelector("[data-role=reconnect-label]").textContent = "Reconnect";
    }
    var hosted = part(card, "hosted");
    if (hosted) hosted.hidden = state !== "needs_reauth";
    refreshPage();
  }

  function cardFromServer(card, data) {
    if (data.state === "needs_reauth" && card.dataset.state === "awaiting") {
      // Back from Mono's page (or the widget) but no confirmation yet: keep waiting, within patience.
      if (Date.now() - Number(card.dataset.awaitingSince) < PATIENCE_MS) return;
      setCard(card, "needs_reauth", "Your bank hasn't confirmed yet. If you didn't finish, reconnect again.", "Needs reconnecting");
      return;
    }
    if (data.state === card.dataset.state) return;
    if (card.dataset.state === "busy") return; // the user is in Mono's window: their click decides
    setCard(card, data.state, data.text, data.badge);
    if (data.state === "ok") {
      W.say(null); // a "taking longer" note is over
      announce(data.text);
    }
  }

  function refreshPage() {
    var needsUser = cards.some(function (card) {
      return card.dataset.state === "needs_reauth" || card.dataset.state === "busy";
    });
    if (continueLink) {
      continueLink.textContent = needsUser ? "Not now" : "Continue";
      continueLink.classList.toggle("primary", !needsUser);
    }
    var allDone = cards.length > 0 && cards.every(isDone);
    document.body.classList.toggle("reauth-all-done", allDone);
    document.body.classList.toggle("reauth-nothing-to-do", !needsUser);
    if (!needsUser && !allDone) {
      setHeading("Almost done", "You're done on your side. Your bank confirms in a moment: this page updates by itself.");
    } else if (needsUser) {
      setHeading("Reconnect your bank", "Your bank is asking you to sign in again before we can keep your account up to date.");
    }
    if (allDone && !startedAllDone) finish();
    if (cards.some(function (card) { return card.dataset.state === "awaiting"; })) schedulePoll(POLL_MS);
  }

  function setHeading(title, text) {
    var heading = document.querySelector("[data-role=heading]");
    var lead = document.querySelector("[data-role=lead]");
    if (heading) heading.textContent = title;
    if (lead) lead.textContent = text;
  }

  /* Everything confirmed during this visit: say so, then continue to `next` unless the user stays. */
  function finish() {
    if (countdownTimer || !autoContinue || !continueLink) return;
    setHeading(cards.length === 1 ? "Reconnected" : "All reconnected", "Your bank connections are working again. Thank you.");
    var seconds = AUTO_CONTINUE_SECONDS;
    var counter = autoContinue.querySelector("[data-role=seconds]");
    autoContinue.hidden = false;
    counter.textContent = String(seconds);
    countdownTimer = window.setInterval(function () {
      seconds -= 1;
      counter.textContent = String(Math.max(seconds, 0));
      if (seconds <= 0) {
        window.clearInterval(countdownTimer);
        window.location.assign(continueLink.href);
      }
    }, 1000);
    autoContinue.querySelector("[data-action=stay]").addEventListener("click", function () {
      window.clearInterval(countdownTimer);
      autoContinue.hidden = true;
      continueLink.focus();
    });
  }

  // --- polling the server until Mono confirms -------------------------------------------------------

  function schedulePoll(delay) {
    if (pollTimer) return;
    pollTimer = window.setTimeout(poll, delay);
  }

  function poll() {
    pollTimer = null;
    var waiting = cards.filter(function (card) { return card.dataset.state === "awaiting"; });
    if (!waiting.length) return;
    var oldest = Math.min.apply(null, waiting.map(function (card) { return Number(card.dataset.awaitingSince); }));
    var waited = Date.now() - oldest;
    if (waited > GIVE_UP_MS) {
      W.say("info", "Your bank still hasn't confirmed. Your accounts page will show it when it does.");
      return;
    }
    var query = waiting.map(function (card) { return "account=" + encodeURIComponent(card.dataset.account); }).join("&");
    fetch(config.dataset.statusUrl + "?" + query, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.json();
      })
      .then(function (body) {
        (body.accounts || []).forEach(function (data) {
          var card = document.querySelector('[data-account="' + data.id + '"]');
          if (card) cardFromServer(card, data);
        });
        if (waited > PATIENCE_MS && cards.some(function (c) { return c.dataset.state === "awaiting"; })) {
          W.say("info", "Your bank is taking longer than usual to confirm. You can continue: we'll update your account when it does.");
        }
      })
      .catch(function () {
        /* A blip: the next poll tries again. */
      })
      .then(function () {
        if (cards.some(function (c) { return c.dataset.state === "awaiting"; })) {
          schedulePoll(waited > PATIENCE_MS ? SLOW_POLL_MS : POLL_MS);
        }
      });
  }

  // --- one click: credential (minted now in token mode) → Mono's window → completion -----------------

  function credentialFor(button) {
    if (button.dataset.credential) return Promise.resolve(button.dataset.credential);
    W.say("info", "Getting a secure link to your bank…");
    return W.postJSON(button.dataset.credentialUrl).then(function (body) {
      return body.credential;
    });
  }

  function reconnect(card, button) {
    if (card.dataset.state === "busy") return;
    var bank = card.dataset.bank;
    var retry = function () {
      reconnect(card, button);
    };
    var putBack = function () {
      setCard(card, "needs_reauth", null, "Needs reconnecting");
      button.focus(); // Mono's window is gone: keyboard users continue where they started
    };
    W.say(null);
    setCard(card, "busy", null, "Reconnecting…");
    button.hidden = false; // stays in place (disabled, "Reconnecting…") while Mono's window is open
    button.disabled = true;
    button.setAttribute("aria-busy", "true");
    button.querySelector("[data-role=reconnect-label]").textContent = "Reconnecting…";
    credentialFor(button)
      .then(function (credential) {
        W.open(
          function (connect) {
            connect.reauthorise(credential); // instead of setup(): the last one called wins
          },
          function (code) {
            complete(card, button, code, retry);
          },
          retry,
          null,
          putBack
        );
      })
      .catch(function (err) {
        if (err.status === 409 && err.body && err.body.status === "ok") {
          setCard(card, "ok", err.body.message, "Reconnected"); // Mono confirmed meanwhile
          W.say(null);
          announce(err.body.message);
          return;
        }
        putBack();
        W.say("error", err.message || "We couldn't reach your bank's connection service.", retry);
      });
  }

  function complete(card, button, code, retry) {
    W.postCode(button.dataset.completeUrl, code)
      .then(function (body) {
        W.say(null); // "Saving…" is over: the card says what happens now
        setCard(card, body.status, body.message, body.badge);
        announce(card.dataset.bank + ": " + body.message);
        // The focused button just disappeared: keep keyboard and screen-reader users on the card.
        part(card, "text").focus();
      })
      .catch(function (err) {
        setCard(card, "needs_reauth", null, "Needs reconnecting");
        W.say("error", err.message, retry);
      });
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("button[data-action=reauth]");
    if (!button) return;
    var card = button.closest("[data-account]");
    if (card) reconnect(card, button);
  });

  // --- Mono's script could not load (blocked, offline): offer Mono's own page instead ----------------

  // Only while a card still needs the user: back from Mono's page, there is nothing to open any more.
  if (typeof window.Connect !== "function" && cards.some(function (c) { return c.dataset.state === "needs_reauth"; })) {
    var hostedForms = document.querySelectorAll("[data-role=hosted]");
    cards.forEach(function (card) {
      card.dataset.widget = "missing";
    });
    Array.prototype.forEach.call(hostedForms, function (form) {
      var hostedButton = form.querySelector("button");
      hostedButton.className = "primary";
      form.querySelector("[data-role=hosted-label]").textContent = "Reconnect on Mono's page";
    });
    var missing = document.querySelector("[data-role=widget-missing]");
    if (missing) missing.hidden = false;
    cards.forEach(function (card) {
      setCard(card, card.dataset.state, null, null);
    });
  }

  refreshPage();
  // Back from Mono's page and Mono confirmed before the page loaded: nothing to wait for, continue.
  if (startedAllDone && config.dataset.returned) finish();
})();
