// The waiting room (issue 20): a timebook whose room is on is booked in turn. The citizen joins
// the line, sees their place and the estimated wait, the page polls when the API says, and goes
// on by itself once admitted; holds then carry the ticket (X-Queue-Ticket).
import { api, loadConfig } from "./api.js";
import * as f from "./format.js";
import { t } from "./i18n.js";
import { announce, h, render } from "./ui.js";

const key = (timebookId) => `timebok.queue.${timebookId}`;

function stored(timebookId) {
  try {
    return JSON.parse(sessionStorage.getItem(key(timebookId)));
  } catch {
    return null;
  }
}

function store(timebookId, answer) {
  sessionStorage.setItem(key(timebookId), JSON.stringify({ ticket: answer.ticket, state: answer.state }));
}

// The citizen must wait for their turn before this step of a timebook.
export const mustWait = (tb) => Boolean(tb?.waiting_room?.enabled) && stored(tb.id)?.state !== "admitted";

// The header a hold in this timebook carries (none outside a room).
export function ticketHeaders(timebookId) {
  const found = timebookId ? stored(timebookId) : null;
  return found?.ticket ? { "X-Queue-Ticket": found.ticket } : {};
}

// A hold said the turn is not (or no longer) ours: wait in line again next time.
export function forget(timebookId) {
  const found = stored(timebookId);
  if (found) store(timebookId, { ...found, state: "waiting" });
}

const waitText = (seconds) => (seconds < 60 ? t("queue.wait_short") : f.duration(Math.ceil(seconds / 60)));
const pause = (seconds) => new Promise((resolve) => setTimeout(resolve, Math.max(1, seconds) * 1000));

// The poll: public and cacheable, so no token; always asked again of the network (no-cache),
// a CDN in between may still answer it.
async function poll(ticket, where) {
  const { api: base } = await loadConfig();
  const response = await fetch(`${base}/queue/${encodeURIComponent(ticket)}${where}`, { cache: "no-cache" });
  if (!response.ok) throw new Error(`HTTP ${response.status}`);
  return response.json();
}

// The line's view; `onAdmitted` goes on to the step the citizen came for, `onWaitlist` joins the
// timebook's waitlist (offered while every place is taken). Polling stops when the citizen leaves.
// With the location the citizen chose, «sold out» is that location's.
export async function showLine(tb, line, onAdmitted, onWaitlist = null, locationId = null) {
  const here = location.hash;
  const where = locationId ? `?location=${encodeURIComponent(locationId)}` : "";
  const first = await api(`/timebooks/${encodeURIComponent(tb.id)}/queue${where}`, { method: "POST" });
  const position = h("p", { class: "queue-position" });
  const wait = h("p", { class: "queue-wait" });
  // Every place taken (at the room's last step): said once, with the waitlist; the line goes on.
  const soldOut = h(
    "div",
    { class: "queue-sold-out", hidden: true },
    h("p", { text: t("queue.sold_out") }),
    onWaitlist ? h("button", { type: "button", class: "secondary", id: "queue-waitlist", onclick: onWaitlist, text: t("waitlist.join") }) : null,
  );
  render(t("queue.title"), line, h("p", { text: t("queue.lead") }), h("div", { class: "queue" }, position, wait), soldOut);
  const show = (answer) => {
    store(tb.id, answer);
    position.textContent = t("queue.position", { position: answer.position });
    wait.textContent = t("queue.wait", { wait: waitText(answer.estimated_wait_seconds) });
    if (Boolean(answer.sold_out) === soldOut.hidden) {
      soldOut.hidden = !answer.sold_out;
      if (answer.sold_out) announce(t("queue.sold_out"));
    }
  };
  let answer = first;
  let said = null;
  for (;;) {
    if (location.hash !== here) return;
    if (answer.state === "admitted") {
      store(tb.id, answer);
      announce(t("queue.admitted"));
      onAdmitted();
      return;
    }
    show(answer);
    if (said !== answer.position) announce(position.textContent); // a screen reader hears the place change
    said = answer.position;
    await pause(answer.poll_after_seconds);
    try {
      answer = await poll(answer.ticket, where);
    } catch (error) {
      console.warn("queue poll", error); // the next poll tries again
    }
  }
}
