// Warns a signed-in person before their idle session times out and lets them stay signed in
// (WCAG 2.2 success criterion 2.2.1, Timing Adjustable). Progressive enhancement: without
// JavaScript the <dialog> in base.html stays closed and the page states the limit in words.
//
// Every decision compares Date.now() with the deadline rather than trusting that a timer ran
// on time: a background tab's timers are throttled and a sleeping laptop runs none. Timers
// are setTimeout only, which the browser tests drive with Playwright's clock.

// The remaining time is read out (aria-live) at most this often.
const COUNTDOWN_STEP_SECONDS = 15;
// The page is loaded afresh this long after the server's limit, never before it: a request
// that arrived while the session was still alive would count as activity and renew it.
const AFTER_THE_LIMIT_SECONDS = 5;

// "1 minute and 45 seconds": the time left, to the nearest step of the countdown.
function spokenDuration(seconds) {
  const steps = Math.max(1, Math.round(seconds / COUNTDOWN_STEP_SECONDS));
  const rounded = steps * COUNTDOWN_STEP_SECONDS;
  const minutes = Math.floor(rounded / 60);
  const rest = rounded % 60;
  const parts = [];
  if (minutes > 0) {
    parts.push(minutes === 1 ? "1 minute" : `${minutes} minutes`);
  }
  if (rest > 0) {
    parts.push(`${rest} seconds`);
  }
  return parts.join(" and ");
}

class SessionTimeout {
  constructor(dialog) {
    this.dialog = dialog;
    this.idleSeconds = Number(dialog.dataset.idleSeconds);
    this.warningSeconds = Number(dialog.dataset.warningSeconds);
    // The session's absolute end, which staying signed in cannot move.
    this.absoluteDeadline = Date.now() + Number(dialog.dataset.absoluteSecondsLeft) * 1000;
    this.keepAliveUrl = dialog.dataset.keepAliveUrl;
    this.csrfToken = dialog.dataset.csrfToken;
    this.timeLeft = dialog.querySelector("[data-session-timeout-left]");
    this.timers = [];
    this.returnFocusTo = null;
    this.extending = false;
    this.unreachable = dialog.querySelector("[data-session-timeout-unreachable]");
    this.stayButton = dialog.querySelector("[data-session-timeout-stay]");
    this.stayButton.addEventListener("click", () => this.stay());
    // Escape closes the dialog (the browser does that itself); it is taken as "stay signed
    // in", so that the time never runs out behind a warning the person has dismissed.
    dialog.addEventListener("cancel", () => this.stay());
  }

  start(secondsLeft) {
    this.clearTimers();
    this.deadline = Date.now() + secondsLeft * 1000;
    this.after(Math.max(0, secondsLeft - this.warningSeconds), () => this.warn());
    this.after(secondsLeft + AFTER_THE_LIMIT_SECONDS, () => this.timedOut());
  }

  secondsLeft() {
    return (this.deadline - Date.now()) / 1000;
  }

  after(seconds, action) {
    this.timers.push(setTimeout(action, seconds * 1000));
  }

  clearTimers() {
    this.timers.forEach((timer) => clearTimeout(timer));
    this.timers = [];
  }

  // Opens the warning, or updates the time it gives; runs again every countdown step.
  warn() {
    if (this.extending) {
      return; // the answer restarts the timers, or reloads the page
    }
    const left = this.secondsLeft();
    if (left <= 0) {
      return; // the page is loaded afresh just after the limit (start)
    }
    // The words change before the dialog opens, so that opening reads them once (as the
    // dialog's description) and only later changes are announced.
    this.timeLeft.textContent = spokenDuration(left);
    if (!this.dialog.open) {
      this.returnFocusTo = document.activeElement;
      this.dialog.showModal();
      // The dialog's name and description are read out with the button, and staying signed
      // in is then one key press.
      this.stayButton.focus();
    }
    if (left > COUNTDOWN_STEP_SECONDS) {
      this.after(COUNTDOWN_STEP_SECONDS, () => this.warn());
    }
  }

  // The server has ended the session by now: loading the page afresh lets it send the person
  // to sign in, saying why. A GET of the page's address, not reload(), which would offer to
  // send again the form whose answer this page may be.
  timedOut() {
    this.clearTimers();
    const here = new URL(window.location.href);
    here.hash = ""; // with only a fragment changed, nothing would be loaded
    window.location.replace(here.href);
  }

  async stay() {
    if (this.extending) {
      return;
    }
    this.extending = true;
    const answer = await this.keepAlive();
    this.extending = false;
    if (answer === "unreachable") {
      // Loading the page now would fail too, and lose what the person has typed: they stay
      // here, are told, and can try again while the time lasts.
      if (!this.dialog.open) {
        this.dialog.showModal();
      }
      this.unreachable.hidden = false;
      this.stayButton.focus();
      return;
    }
    if (answer !== "extended") {
      // Already signed out (the answer was a redirect to sign in): the page as the server
      // now sees it says so.
      this.timedOut();
      return;
    }
    this.unreachable.hidden = true;
    this.close();
    this.start(Math.min(this.idleSeconds, (this.absoluteDeadline - Date.now()) / 1000));
  }

  // "extended" (204), "refused" (the session is over: the answer is a redirect to sign in)
  // or "unreachable" (no answer, or the portal failed).
  async keepAlive() {
    try {
      const answer = await fetch(this.keepAliveUrl, {
        method: "POST",
        headers: { "X-CSRFToken": this.csrfToken },
        credentials: "same-origin",
        redirect: "manual",
      });
      if (answer.status >= 500) {
        return "unreachable";
      }
      return answer.status === 204 ? "extended" : "refused";
    } catch {
      return "unreachable";
    }
  }

  close() {
    if (this.dialog.open) {
      this.dialog.close();
    }
    if (this.returnFocusTo && this.returnFocusTo.isConnected) {
      this.returnFocusTo.focus();
    }
    this.returnFocusTo = null;
  }
}

const dialog = document.getElementById("session-timeout");
if (dialog && typeof dialog.showModal === "function") {
  new SessionTimeout(dialog).start(Number(dialog.dataset.idleSecondsLeft));
}
