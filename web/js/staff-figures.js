// Live figures on the staff page while a surge runs: GET /admin/figures (this API process's
// counters since it started; per instance in AWS, where the CloudWatch dashboard adds them up),
// shown in the «Tall nå» region and refreshed every few seconds while the page is visible.
import { api } from "./api.js";
import * as auth from "./auth.js";
import { loadLanguage, locale, t } from "./i18n.js";
import { h } from "./ui.js";

const EVERY_MS = 5000;
// The counters in the order shown; a figure the API has not counted yet shows as 0.
const COUNTERS = [
  ["Holds", "figures.holds"],
  ["Bookings", "figures.bookings"],
  ["LostRaces", "figures.lost_races"],
  ["Throttled", "figures.throttled"],
  ["ConflictsRetried", "figures.conflicts_retried"],
  ["ConflictsSpent", "figures.conflicts_spent"],
  ["Admitted", "figures.admitted"],
];
const GAUGES = [
  ["QueueLength", "figures.queue_length"],
  ["RelayLagSeconds", "figures.relay_lag"],
];

export function figuresList(figures) {
  const number = (value) => new Intl.NumberFormat(locale(), { maximumFractionDigits: 1 }).format(value || 0);
  return h(
    "dl",
    { class: "summary figure-list" },
    COUNTERS.flatMap(([name, key]) => [h("dt", { text: t(key) }), h("dd", { "data-figure": name, text: number(figures.counters?.[name]) })]),
    GAUGES.filter(([name]) => name in (figures.gauges || {})).flatMap(([name, key]) => [
      h("dt", { text: t(key) }),
      h("dd", { "data-figure": name, text: number(figures.gauges[name]) }),
    ]),
  );
}

let refreshing = false;

async function refresh(region) {
  // One refresh at a time: under a surge one can outlast the interval (429s are waited out), and
  // an older answer must not paint over a newer one.
  if (refreshing) return;
  refreshing = true;
  let figures;
  try {
    figures = await api("/admin/figures");
  } catch (error) {
    // Not staff: no figures. Anything else (the API busy or away in a surge, when staff most want
    // them) keeps the last figures shown, whose "updated" time says how old they are.
    if (error.status === 401 || error.status === 403) region.hidden = true;
    return;
  } finally {
    refreshing = false;
  }
  const at = new Intl.DateTimeFormat(locale(), { hour: "2-digit", minute: "2-digit", second: "2-digit", timeZone: "Europe/Oslo" }).format(new Date());
  region.replaceChildren(
    h("h2", { id: "figures-title", text: t("figures.title") }),
    h("p", { class: "hint", text: t("figures.scope") }),
    figuresList(figures),
    h("p", { class: "hint", text: t("figures.updated", { time: at }) }),
  );
  region.hidden = false;
}

export async function start(region = document.getElementById("figures")) {
  const c = auth.claims();
  if (!region || !c || c.role !== "staff") return;
  await loadLanguage();
  await refresh(region);
  setInterval(() => {
    if (!document.hidden) refresh(region);
  }, EVERY_MS);
}

start();
