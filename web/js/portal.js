// The citizen portal: the municipal guide's six steps, one view per step, routed by the hash.
// Every word comes from the language's catalogue (i18n.js); dates from Intl (format.js).
import { api, ApiError, listAll, loadConfig, serverNow, texts as apiTexts } from "./api.js";
import * as auth from "./auth.js";
import * as f from "./format.js";
import * as queue from "./queue.js";
import * as signin from "./signin.js";
import { hasText, language, loadLanguage, t, tn, translateDocument } from "./i18n.js";
import { announce, busy, focusedNotice, h, notice, present, radio, render, showAlert, showFieldErrors, uid } from "./ui.js";

const MAX_DESCRIPTION = 1000;
const FLOW = "timebok.flow";
const READ = "timebok.read"; // ids of inbox messages read (this browser)
const FRESH_MS = 60_000; // a month read is reused this long (public views may be seconds stale anyway)

// ---- state of one booking (this tab only) ------------------------------------------------------

const flow = {
  get() {
    try {
      return JSON.parse(sessionStorage.getItem(FLOW)) || {};
    } catch {
      return {};
    }
  },
  set(changes) {
    const next = { ...flow.get(), ...changes };
    sessionStorage.setItem(FLOW, JSON.stringify(next));
    return next;
  },
  clear() {
    sessionStorage.removeItem(FLOW);
  },
};

const timebooks = new Map();
async function timebook(id) {
  if (!timebooks.has(id)) timebooks.set(id, await api(`/timebooks/${encodeURIComponent(id)}`));
  return timebooks.get(id);
}

// The month read for the calendar serves the day's times view too: a day click is one call.
const months = new Map();
async function calendarMonth(tbId, locationId, month) {
  const key = `${tbId}|${locationId}|${month}`;
  const kept = months.get(key);
  if (kept && Date.now() - kept.at < FRESH_MS) return kept.data;
  const data = await api(`/timebooks/${encodeURIComponent(tbId)}/calendar?month=${month}&location=${encodeURIComponent(locationId)}`);
  months.set(key, { at: Date.now(), data });
  return data;
}

const go = (hash) => {
  if (location.hash === hash) route();
  else location.hash = hash;
};

// Timers of the view on screen (countdowns), stopped on every view change.
let timers = [];
function every(ms, tick) {
  const id = setInterval(tick, ms);
  timers.push(id);
  return () => clearInterval(id);
}
function stopTimers() {
  timers.forEach(clearInterval);
  timers = [];
}

function stepLine(number, text) {
  return h("p", { class: "steps" }, t("step.line", { number, text }));
}

const ERROR_CODES = [
  "network", "unauthorized", "citizen_only", "staff_only", "slot_unavailable", "hold_expired", "hold_gone",
  "hold_not_found", "active_appointment_exists", "cancel_deadline_passed", "not_representative", "throttled",
  "service_unavailable", "already_waiting", "queue_required", "not_open_yet", "wrong_state", "offer_open",
];

function errorText(error) {
  if (error instanceof ApiError) {
    if (error.code === "not_open_yet" && error.opensAt) return t("error.not_open_yet_at", { when: f.stamp(error.opensAt) });
    if (ERROR_CODES.includes(error.code)) return t(`error.${error.code}`);
    const byStatus = { 0: "network", 429: "throttled", 502: "service_unavailable", 503: "service_unavailable", 504: "service_unavailable" };
    if (byStatus[error.status] !== undefined) return t(`error.${byStatus[error.status]}`);
    return error.message || t("error.unknown");
  }
  return t("error.unknown");
}

// Errors that have a place to go from: a link onwards beside the text.
function errorLink(error) {
  if (error instanceof ApiError && error.code === "active_appointment_exists") return h("a", { href: "#/timeavtaler", text: t("link.appointments") });
  // An open waitlist offer is never silently replaced by another hold: go and book or decline it.
  if (error instanceof ApiError && error.code === "offer_open") return h("a", { href: "#/venteliste", id: "offer-open-link", text: t("link.offer") });
  return null;
}

async function guarded(work) {
  try {
    await work();
  } catch (error) {
    console.error(error);
    busy(false);
    announce("");
    if (error instanceof ApiError && error.status === 401) {
      auth.signOut();
      showAlert(t("error.expired_sign_in"), " ", h("a", { href: `#/logg-inn?neste=${encodeURIComponent(location.hash)}`, text: t("signin.button") }));
      return;
    }
    const link = errorLink(error);
    showAlert(errorText(error), ...(link ? [" ", link] : []));
  }
}

function signInHash() {
  return `#/logg-inn?neste=${encodeURIComponent(location.hash || "#/")}`;
}

function placeText(location) {
  return `${location.name}, ${location.address}${location.directions ? ` (${location.directions})` : ""}`;
}

const statusName = (status) => t(`status.${status}`);

// ---- step 1: «Bestill time» → «Hvem vil du bestille time hos?» --------------------------------

async function stepHealthContacts() {
  if (flow.get().reschedule) flow.set({ reschedule: null, rescheduleTo: null });
  const contacts = await listAll("/health-contacts");
  render(
    t("start.title"),
    h("p", { class: "lead" }, t("start.lead")),
    h("h2", { text: t("start.who") }),
    contacts.length
      ? h("ul", { class: "choices" }, contacts.map((c) => h("li", {}, h("a", { href: `#/helsekontakt/${encodeURIComponent(c.id)}` }, c.name))))
      : notice(t("start.none")),
  );
}

// ---- step 2: «Hva trenger du?» ------------------------------------------------------------------

async function stepTimebooks(contactId) {
  const books = await listAll(`/health-contacts/${encodeURIComponent(contactId)}/timebooks`);
  const form = h("form", { novalidate: true });
  const group = h(
    "fieldset",
    {},
    h("legend", { text: t("timebooks.legend") }),
    books.map((b, i) => radio("timebook", b.id, b.name, { checked: books.length === 1 && i === 0, sub: b.description })),
  );
  form.append(group, h("div", { class: "actions" }, h("button", { type: "submit", text: t("button.next") }), h("a", { href: "#/", text: t("button.cancel") })));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const chosen = form.querySelector("input[name=timebook]:checked");
    if (!chosen) {
      showFieldErrors(form, [{ target: group, message: t("timebooks.required") }], t("errors.title"));
      return;
    }
    flow.set({ timebookId: chosen.value, answers: {}, hold: null, reschedule: null, fromOffer: false });
    go(`#/timebok/${encodeURIComponent(chosen.value)}`);
  });
  render(
    t("timebooks.title"),
    stepLine(2, t("timebooks.step")),
    h("p", { text: t("timebooks.lead") }),
    books.length ? form : notice(t("timebooks.none")),
  );
}

// ---- step 2, the form: the municipality's questions, on behalf of whom -----------------------

function questionField(question, saved) {
  const text = question.text + (question.required ? "" : ` ${t("form.optional")}`);
  const legend = h("legend", { text });
  if (question.kind === "yes_no") {
    return h(
      "fieldset",
      { "data-question": question.id },
      legend,
      h("div", { class: "inline-radios" }, radio(`q-${question.id}`, "ja", t("answer.yes"), { checked: saved === "ja" }), radio(`q-${question.id}`, "nei", t("answer.no"), { checked: saved === "nei" })),
    );
  }
  if (question.kind === "choice") {
    return h("fieldset", { "data-question": question.id }, legend, question.options.map((o) => radio(`q-${question.id}`, o, o, { checked: saved === o })));
  }
  const id = uid("q");
  return h(
    "div",
    { class: "field", "data-question": question.id },
    h("label", { for: id, text }),
    h("input", { type: "text", id, name: `q-${question.id}`, value: saved || "", maxlength: "500" }),
  );
}

function readAnswer(form, question) {
  if (question.kind === "text") return form.querySelector(`[name="q-${question.id}"]`).value.trim();
  return form.querySelector(`input[name="q-${question.id}"]:checked`)?.value || "";
}

// The citizen's active appointments in this timebook for one person (API.md: active =
// requested/booked whose end has not passed), and whether the timebook's limit is reached.
async function activeAppointments(tb, person) {
  const limit = "max_active_per_person" in tb ? tb.max_active_per_person : 1;
  if (limit === null || !auth.token() || !person) return [];
  const now = serverNow();
  const mine = (await listAll("/appointments")).filter(
    (a) =>
      a.timebook?.id === tb.id &&
      (a.status === "requested" || a.status === "booked") &&
      new Date(a.end).getTime() > now &&
      a.for?.pid === person.pid,
  );
  return mine.length >= limit ? mine : [];
}

function activeNotice(found) {
  const first = found[0];
  return focusedNotice(
    t("active.exists", { when: f.shortWhen(first.start) }),
    "bad",
    " ",
    h("a", { href: "#/timeavtaler", text: t("active.link") }),
  );
}

function afterForm(tb) {
  const state = flow.get();
  if (state.fromOffer && state.hold) return go("#/oppsummering");
  const next = tb.locations.length === 1 ? `kalender?sted=${encodeURIComponent(tb.locations[0].id)}` : "sted";
  return go(`#/timebok/${encodeURIComponent(tb.id)}/${next}`);
}

// A timebook whose waiting room is on: the line first (queue.js), then this step by itself.
function waitInLine(tb, locationId = null) {
  if (!auth.token()) return needSignIn(t("queue.title"));
  const place = tb.locations.find((l) => l.id === locationId) || null; // a known one only
  queue.showLine(tb, stepLine(2, t("queue.step")), () => go(location.hash), () => joinWaitlist(tb, place), place?.id).catch((error) => guarded(() => Promise.reject(error)));
  return null;
}

async function stepForm(timebookId) {
  const tb = await timebook(timebookId);
  if (queue.mustWait(tb)) return waitInLine(tb);
  const state = flow.get().timebookId === timebookId ? flow.get() : flow.set({ timebookId, answers: {}, hold: null, reschedule: null, fromOffer: false });
  const people = auth.people();
  const questions = tb.form?.questions || [];
  const signedIn = Boolean(auth.token());
  const person = () => people.find((p) => p.pid === (flow.get().forPid || people[0]?.pid)) || people[0];
  // Nothing to ask and no one else to choose: no empty step 2 (the limit is checked all the same).
  if (!questions.length && people.length <= 1) {
    const found = await activeAppointments(tb, person());
    if (!found.length) {
      flow.set({ answers: {} });
      return afterForm(tb);
    }
  }
  const form = h("form", { novalidate: true });
  let forGroup = null;
  const warning = h("div", { id: "active-warning" });
  const check = async () => {
    const found = await activeAppointments(tb, person());
    const node = found.length ? activeNotice(found) : h("div");
    warning.replaceChildren(node);
    if (found.length) node.focus();
  };
  if (people.length > 1) {
    const current = state.forPid || people[0].pid;
    forGroup = h(
      "fieldset",
      {},
      h("legend", { text: t("form.for") }),
      people.map((p) => radio("for", p.pid, p.self ? t("form.self", { name: p.name }) : p.name, { checked: p.pid === current })),
    );
    forGroup.addEventListener("change", () => {
      flow.set({ forPid: form.querySelector("input[name=for]:checked")?.value || null });
      guarded(check);
    });
    form.append(forGroup);
  } else if (!signedIn) {
    form.append(
      h("p", { class: "hint" }, t("form.others_before"), " ", h("a", { href: signInHash() }, t("form.sign_in_first")), t("form.others_after")),
    );
  }
  for (const question of questions) form.append(questionField(question, state.answers?.[question.id]));
  form.append(
    h(
      "div",
      { class: "actions" },
      h("button", { type: "submit", text: t("button.next") }),
      h("a", { href: `#/helsekontakt/${encodeURIComponent(tb.health_contact.id)}`, text: t("button.back") }),
    ),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const answers = {};
    const errors = [];
    for (const question of questions) {
      const value = readAnswer(form, question);
      if (value) answers[question.id] = value;
      else if (question.required) errors.push({ target: form.querySelector(`[data-question="${question.id}"]`), message: t("form.answer", { question: question.text }) });
    }
    if (errors.length) {
      showFieldErrors(form, errors, t("errors.title"));
      return;
    }
    const forPid = forGroup ? form.querySelector("input[name=for]:checked")?.value : null;
    flow.set({ answers, forPid: forPid || null });
    afterForm(tb);
  });
  const found = signedIn ? await activeAppointments(tb, person()) : [];
  const heading = render(
    tb.form?.title || tb.name,
    stepLine(2, t("form.step")),
    warning,
    tb.description ? h("p", { text: tb.description }) : null,
    h("p", { class: "hint" }, t("form.help_before"), " ", h("a", { href: "#/personvern", text: t("form.help_link") }), "."),
    form,
  );
  if (found.length) {
    const node = activeNotice(found);
    warning.replaceChildren(node);
    node.focus();
  }
  void heading;
}

// ---- step 3: «Oppmøtested», then the month calendar ------------------------------------------

async function stepLocation(timebookId) {
  const tb = await timebook(timebookId);
  if (queue.mustWait(tb)) return waitInLine(tb);
  const form = h("form", { novalidate: true });
  const group = h(
    "fieldset",
    {},
    h("legend", { text: t("location.legend") }),
    tb.locations.map((l) => radio("location", l.id, l.name, { checked: flow.get().locationId === l.id, sub: `${l.address}${l.directions ? ` (${l.directions})` : ""}` })),
  );
  form.append(group, h("div", { class: "actions" }, h("button", { type: "submit", text: t("button.next") }), h("a", { href: `#/timebok/${encodeURIComponent(tb.id)}`, text: t("button.back") })));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const chosen = form.querySelector("input[name=location]:checked");
    if (!chosen) {
      showFieldErrors(form, [{ target: group, message: t("location.required") }], t("errors.title"));
      return;
    }
    go(`#/timebok/${encodeURIComponent(tb.id)}/kalender?sted=${encodeURIComponent(chosen.value)}`);
  });
  render(t("location.title"), stepLine(3, t("location.step")), form);
}

function calendarTable(month, days, selected, onPick) {
  const free = new Map(days.map((d) => [d.date, d.free]));
  const [year, monthNumber] = month.split("-").map(Number);
  const first = new Date(Date.UTC(year, monthNumber - 1, 1));
  const daysInMonth = new Date(Date.UTC(year, monthNumber, 0)).getUTCDate();
  const lead = (first.getUTCDay() + 6) % 7; // Monday first
  const rows = [];
  let cells = Array.from({ length: lead }, () => h("td"));
  const hidden = (text) => h("span", { class: "visually-hidden", text });
  for (let day = 1; day <= daysInMonth; day += 1) {
    const date = `${month}-${String(day).padStart(2, "0")}`;
    const count = free.get(date) || 0;
    const [weekday, rest] = f.longDay(date).split(/ (.+)/);
    // The button's name is the whole date and the count; the visible day and count are in it.
    cells.push(
      h(
        "td",
        {},
        count
          ? h(
              "button",
              { type: "button", class: selected === date ? "" : "secondary", "data-date": date, "aria-pressed": String(selected === date), onclick: () => onPick(date) },
              hidden(`${weekday} `),
              String(day),
              hidden(`${rest.replace(/^\d+/, "")}, `),
              h("span", { class: "free-count", text: tn("calendar.free", count) }),
            )
          : h("span", { class: "none" }, h("span", { "aria-hidden": "true", text: String(day) }), hidden(`${f.longDay(date)}, ${t("calendar.none_free")}`)),
      ),
    );
    if (cells.length === 7) {
      rows.push(h("tr", {}, cells));
      cells = [];
    }
  }
  if (cells.length) rows.push(h("tr", {}, cells, Array.from({ length: 7 - cells.length }, () => h("td"))));
  return h(
    "table",
    { class: "calendar" },
    h("caption", { class: "visually-hidden", text: t("calendar.caption", { month: f.monthName(month) }) }),
    h("thead", {}, h("tr", {}, f.weekdays().map(([short, long]) => h("th", { scope: "col" }, h("abbr", { title: long, text: short }))))),
    h("tbody", {}, rows),
  );
}

async function firstMonthWithFreeDays(tb, locationId, start) {
  for (let i = 0; i < 3; i += 1) {
    const month = f.addMonths(start, i);
    const data = await calendarMonth(tb.id, locationId, month);
    if (data.days.some((d) => d.free > 0)) return { month, data };
  }
  return { month: start, data: await calendarMonth(tb.id, locationId, start) };
}

async function stepCalendar(timebookId, query) {
  const tb = await timebook(timebookId);
  if (queue.mustWait(tb)) return waitInLine(tb, query.get("sted"));
  const state = flow.get();
  const locationId = query.get("sted") || tb.locations[0]?.id;
  const place = tb.locations.find((l) => l.id === locationId) || tb.locations[0];
  if (state.timebookId !== timebookId) flow.set({ timebookId, answers: {}, hold: null, fromOffer: false });
  flow.set({ locationId: place.id });
  const thisMonth = f.todayInOslo().slice(0, 7);
  let month = query.get("maaned");
  let data;
  if (month) data = await calendarMonth(tb.id, place.id, month);
  else ({ month, data } = await firstMonthWithFreeDays(tb, place.id, thisMonth));
  const selected = query.get("dato");
  const here = (changes) => {
    const next = new URLSearchParams({ sted: place.id, maaned: month });
    for (const [k, v] of Object.entries(changes)) v === null ? next.delete(k) : next.set(k, v);
    return `#/timebok/${encodeURIComponent(tb.id)}/kalender?${next}`;
  };
  const monthBar = h(
    "div",
    { class: "monthbar" },
    h("button", { type: "button", class: "secondary", onclick: () => go(here({ maaned: thisMonth, dato: null })) }, t("calendar.today")),
    h("button", { type: "button", class: "secondary", "aria-label": t("calendar.previous"), disabled: month <= thisMonth, onclick: () => go(here({ maaned: f.addMonths(month, -1), dato: null })) }, "‹"),
    h("h2", { "aria-live": "polite", text: f.monthTitle(month) }),
    h("button", { type: "button", class: "secondary", "aria-label": t("calendar.next"), onclick: () => go(here({ maaned: f.addMonths(month, 1), dato: null })) }, "›"),
  );
  const reschedule = state.reschedule;
  const anyFree = data.days.some((d) => d.free > 0);
  const firstFree = reschedule
    ? null
    : h(
        "div",
        { class: "first-free" },
        h("button", { type: "button", id: "first-free", onclick: () => takeFirstFree(tb, place, month > thisMonth ? `${month}-01` : null) }, t("first.button")),
        h("p", { class: "hint", text: t("first.hint") }),
      );
  const waitlist = reschedule
    ? null
    : h(
        "section",
        { class: "waitlist-join", "aria-labelledby": "waitlist-join-heading" },
        h("h2", { id: "waitlist-join-heading", text: t("waitlist.join_title") }),
        h("p", { text: anyFree ? t("waitlist.join_lead") : t("waitlist.join_lead_full") }),
        h("button", { type: "button", class: "secondary", id: "join-waitlist", onclick: () => joinWaitlist(tb, place) }, t("waitlist.join")),
      );
  render(
    reschedule ? t("reschedule.title") : t("calendar.title"),
    reschedule ? h("p", { text: t("reschedule.current", { when: f.longWhen(reschedule.start, reschedule.end) }) }) : stepLine(3, t("calendar.step")),
    h("div", { class: "resource" }, h("strong", { text: tb.resource.name }), tb.resource.description ? h("p", { text: tb.resource.description }) : null),
    h(
      "p",
      {},
      h("strong", { text: `${t("label.place")} ` }),
      placeText(place),
      tb.locations.length > 1 ? [" ", h("a", { href: `#/timebok/${encodeURIComponent(tb.id)}/sted`, text: t("location.change") })] : null,
    ),
    anyFree ? firstFree : null,
    monthBar,
    calendarTable(month, data.days, selected, (date) => go(here({ dato: date }))),
    anyFree ? null : notice(t("calendar.month_full")),
    waitlist,
  );
  const pendingFirst = flow.get().pendingFirst;
  if (pendingFirst && auth.token() && !selected) {
    flow.set({ pendingFirst: null });
    return takeFirstFree(tb, place, pendingFirst.date);
  }
  if (!selected) return;
  busy(true);
  const section = await timesSection(tb, place, selected, reschedule);
  busy(false);
  document.getElementById("main").append(section);
  // A deep link (the SMART feed's booking-deep-link) names the time: it is shown selected, focused.
  const wanted = query.get("tid") && [...section.querySelectorAll("button[data-slot]")].find((b) => b.dataset.slot === query.get("tid"));
  if (wanted) {
    wanted.setAttribute("aria-current", "true");
    wanted.classList.add("selected");
  }
  // Back from signing in: take the time chosen before (if it went meanwhile, the API says so
  // and the page offers the next free one).
  const pending = flow.get().pendingSlot;
  if (pending && auth.token()) {
    flow.set({ pendingSlot: null });
    return takeTime(tb, place, pending, section);
  }
  (wanted || section.querySelector("h2")).focus();
}

async function timesSection(tb, place, date, reschedule, lost = null) {
  const data = await api(`/timebooks/${encodeURIComponent(tb.id)}/slots?date=${date}&location=${encodeURIComponent(place.id)}`);
  const section = h("section", { "aria-labelledby": "times-heading", id: "times" });
  const heading = h("h2", { id: "times-heading", tabindex: "-1", text: t("times.title", { date: f.dayMonth(date) }) });
  section.append(heading);
  if (lost) {
    const next = data.items.find((s) => s.start >= lost.start);
    section.append(
      h(
        "div",
        { class: "notice bad", role: "alert" },
        h("p", { text: t("times.lost", { time: f.span(lost.start, lost.end) }) }),
        next
          ? h("p", {}, t("times.next", { time: f.span(next.start, next.end) }), " ", h("button", { type: "button", id: "take-next", onclick: () => takeTime(tb, place, next, section) }, t("times.take", { time: f.span(next.start, next.end) })))
          : h("p", { text: t("times.none_left") }),
      ),
    );
  }
  if (!data.items.length) {
    section.append(notice(t("times.none")));
    return section;
  }
  section.append(
    h(
      "ul",
      { class: "times" },
      data.items.map((slot) =>
        h(
          "li",
          {},
          h("button", { type: "button", class: "secondary", "data-slot": slot.id, "aria-label": `${f.span(slot.start, slot.end)}, ${tn("times.free", slot.free)}`, onclick: () => takeTime(tb, place, slot, section, reschedule) }, f.span(slot.start, slot.end)),
        ),
      ),
    ),
  );
  return section;
}

// ---- step 4: take the time: a hold, or on a lost race the next free time ---------------------

async function postHold(body, forPid) {
  const own = auth.claims()?.sub;
  if (forPid && forPid !== own) body.for_pid = forPid;
  const headers = queue.ticketHeaders(flow.get().timebookId);
  try {
    return await api("/holds", { method: "POST", body, headers });
  } catch (error) {
    if (error instanceof ApiError && error.code === "queue_required") queue.forget(flow.get().timebookId);
    // An API without `for_pid` on holds (before API.md's addition) refuses the field: the
    // appointment still names the person, so hold without it.
    if (error instanceof ApiError && error.status === 400 && error.fields.some((x) => x.field.includes("for_pid")) && body.for_pid) {
      delete body.for_pid;
      return api("/holds", { method: "POST", body, headers });
    }
    throw error;
  }
}

async function replaceHold(body) {
  const old = flow.get().hold;
  if (old && !flow.get().fromOffer) await api(`/holds/${encodeURIComponent(old.id)}`, { method: "DELETE" }).catch(() => null);
  const hold = await postHold(body, flow.get().forPid);
  flow.set({ hold, slot: { id: hold.slot_id, start: hold.start, end: hold.end }, idempotencyKey: crypto.randomUUID(), fromOffer: false });
  return hold;
}

async function takeTime(tb, place, slot, section, reschedule = flow.get().reschedule) {
  if (!auth.token()) {
    flow.set({ pendingSlot: { id: slot.id, start: slot.start, end: slot.end } });
    go(signInHash());
    return;
  }
  if (reschedule) {
    flow.set({ rescheduleTo: { id: slot.id, start: slot.start, end: slot.end, location: place } });
    go("#/endre");
    return;
  }
  section.querySelectorAll("button").forEach((b) => (b.disabled = true));
  busy(true);
  announce(t("times.holding"));
  try {
    await replaceHold({ slot_id: slot.id });
    flow.set({ locationId: place.id });
    announce("");
    go("#/oppsummering");
  } catch (error) {
    announce("");
    busy(false);
    if (error instanceof ApiError && (error.code === "slot_unavailable" || error.code === "slot_not_found")) {
      const date = new URLSearchParams(location.hash.split("?")[1]).get("dato");
      const fresh = await timesSection(tb, place, date, reschedule, slot);
      section.replaceWith(fresh);
      (fresh.querySelector("#take-next") || fresh.querySelector("h2")).focus();
      return;
    }
    section.querySelectorAll("button").forEach((b) => (b.disabled = false));
    if (error instanceof ApiError && error.status === 401) {
      auth.signOut();
      flow.set({ pendingSlot: { id: slot.id, start: slot.start, end: slot.end } });
      go(signInHash());
      return;
    }
    const link = errorLink(error);
    showAlert(errorText(error), ...(link ? [" ", link] : []));
  }
}

// «Første ledige time»: the API picks the first free place (spreading a crowd), from `date`.
async function takeFirstFree(tb, place, date) {
  if (!auth.token()) {
    flow.set({ pendingFirst: { date } });
    go(signInHash());
    return;
  }
  const button = document.getElementById("first-free");
  if (button) button.disabled = true;
  busy(true);
  announce(t("first.searching"));
  const body = { timebook_id: tb.id, location_id: place.id };
  if (date) body.date = date;
  try {
    await replaceHold(body);
    flow.set({ locationId: place.id });
    announce("");
    go("#/oppsummering");
  } catch (error) {
    announce("");
    busy(false);
    if (button) button.disabled = false;
    if (error instanceof ApiError && error.code === "slot_unavailable") {
      showAlert(t("first.none"), " ", h("a", { href: "#waitlist-join-heading", onclick: (e) => { e.preventDefault(); document.getElementById("join-waitlist")?.focus(); } }, t("waitlist.join")));
      return;
    }
    const link = errorLink(error);
    showAlert(errorText(error), ...(link ? [" ", link] : []));
  }
}

// ---- the waitlist: join from the calendar, see it, take an offer in time, leave ----------------

async function joinWaitlist(tb, place) {
  if (!auth.token()) {
    go(signInHash());
    return;
  }
  busy(true);
  await guarded(async () => {
    const body = { timebook_id: tb.id, location_id: place?.id }; // none from the line: any location
    const forPid = flow.get().forPid;
    if (forPid && forPid !== auth.claims().sub) body.for_pid = forPid;
    try {
      await api("/waitlist", { method: "POST", body });
      flow.set({ notice: "waitlist.joined" });
    } catch (error) {
      if (!(error instanceof ApiError && error.code === "already_waiting")) throw error;
      flow.set({ notice: "waitlist.already" });
    }
    go("#/venteliste");
  });
}

function waitlistCard(entry, tb, onChange) {
  const place = tb?.locations.find((l) => l.id === (entry.location_id || entry.offer?.location_id));
  const live = entry.status === "waiting" || entry.status === "offered";
  const parts = [
    h("h2", { text: tb ? tb.name : t("waitlist.timebook") }),
    h(
      "dl",
      { class: "summary" },
      h("dt", { text: t("label.status") }),
      h("dd", { text: t(`waitlist.status.${entry.status}`) }),
      place ? [h("dt", { text: t("label.place") }), h("dd", { text: placeText(place) })] : null,
      Number.isInteger(entry.position) ? [h("dt", { text: t("waitlist.position_label") }), h("dd", { text: t("waitlist.position", { position: entry.position }) })] : null,
      h("dt", { text: t("waitlist.since") }),
      h("dd", { text: f.stamp(entry.created_at) }),
    ),
  ];
  const actions = h("div", { class: "actions" });
  if (entry.status === "offered" && entry.offer) {
    const offer = entry.offer;
    const left = h("span", { class: "countdown" });
    const spoken = h("span", { class: "visually-hidden", "aria-live": "polite" });
    const accept = h("button", { type: "button", onclick: () => acceptOffer(entry, tb, offer) }, t("waitlist.accept"));
    const expires = new Date(offer.expires_at).getTime();
    let lastMinute = null;
    const tick = () => {
      const seconds = Math.max(0, Math.round((expires - serverNow()) / 1000));
      left.textContent = `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, "0")}`;
      const minutes = Math.ceil(seconds / 60);
      if (seconds === 0) {
        stop();
        accept.disabled = true;
        spoken.textContent = t("waitlist.offer_gone");
      } else if (minutes !== lastMinute && (lastMinute !== null || minutes <= 2)) spoken.textContent = tn("countdown.minutes_left", minutes);
      lastMinute = minutes;
    };
    const stop = every(1000, tick);
    tick();
    parts.push(
      h(
        "div",
        { class: "notice ok offer" },
        h("p", { class: "when", text: f.longWhen(offer.start, offer.end) }),
        h("p", {}, t("waitlist.offer_until", { time: f.time(offer.expires_at) }), " ", left, spoken),
      ),
    );
    actions.append(accept);
  }
  if (live) {
    actions.append(
      h(
        "button",
        {
          type: "button",
          class: "secondary",
          onclick: () =>
            guarded(async () => {
              busy(true);
              await api(`/waitlist/${encodeURIComponent(entry.id)}`, { method: "DELETE" });
              flow.set({ notice: "waitlist.left" });
              await onChange();
            }),
        },
        entry.status === "offered" ? t("waitlist.decline") : t("waitlist.leave"),
      ),
    );
  }
  return h("li", {}, parts, actions.childElementCount ? actions : null);
}

function acceptOffer(entry, tb, offer) {
  const hold = { id: offer.hold_id, slot_id: offer.slot_id, start: offer.start, end: offer.end, expires_at: offer.expires_at, location_id: offer.location_id || entry.location_id };
  flow.set({
    timebookId: entry.timebook_id,
    locationId: hold.location_id || tb?.locations[0]?.id,
    hold,
    fromOffer: true,
    answers: {},
    reschedule: null,
    forPid: entry.for_pid || null,
    idempotencyKey: crypto.randomUUID(),
  });
  const questions = tb?.form?.questions || [];
  go(questions.length ? `#/timebok/${encodeURIComponent(entry.timebook_id)}` : "#/oppsummering");
}

// A message kept across a view change (set before go(), shown and focused by the next view).
function takeNotice() {
  const key = flow.get().notice;
  if (!key) return null;
  flow.set({ notice: null });
  return focusedNotice(t(key), "ok");
}

async function stepWaitlist() {
  if (!auth.token()) return needSignIn(t("waitlist.title"));
  const show = async () => {
    if (document.getElementById("waitlist")) stopTimers(); // the old cards' countdowns
    const items = await listAll("/waitlist");
    const books = new Map();
    for (const id of new Set(items.map((e) => e.timebook_id))) books.set(id, await timebook(id).catch(() => null));
    const order = { offered: 0, waiting: 1 };
    items.sort((a, b) => (order[a.status] ?? 2) - (order[b.status] ?? 2) || b.created_at.localeCompare(a.created_at));
    const said = takeNotice();
    const wrap = h(
      "div",
      { id: "waitlist" },
      said,
      items.length ? h("ul", { class: "cards" }, items.map((e) => waitlistCard(e, books.get(e.timebook_id), show))) : notice(t("waitlist.empty")),
    );
    const existing = document.getElementById("waitlist");
    if (existing) {
      existing.replaceWith(wrap);
      busy(false);
      (said || document.querySelector("main h1")).focus();
    }
    return { wrap, said };
  };
  const { wrap, said } = await show();
  render(t("waitlist.title"), h("p", { text: t("waitlist.lead") }), wrap);
  said?.focus();
}

// ---- «Endre time»: review before anything changes ---------------------------------------------

async function stepReschedule() {
  const state = flow.get();
  const from = state.reschedule;
  const to = state.rescheduleTo;
  if (!from || !to) return go("#/timeavtaler");
  if (!auth.token()) return go(signInHash());
  const tb = await timebook(from.timebookId);
  const back = `#/timebok/${encodeURIComponent(tb.id)}/kalender?sted=${encodeURIComponent(to.location?.id || from.locationId)}`;
  const confirm = h("button", { type: "button", id: "confirm-change" }, t("reschedule.confirm"));
  confirm.addEventListener("click", () =>
    guarded(async () => {
      confirm.disabled = true;
      busy(true);
      try {
        await api(`/appointments/${encodeURIComponent(from.appointmentId)}/reschedule`, { method: "POST", body: { slot_id: to.id } });
      } finally {
        confirm.disabled = false;
      }
      flow.set({ reschedule: null, rescheduleTo: null });
      go(`#/sendt/${encodeURIComponent(from.appointmentId)}?endret=1`);
    }),
  );
  render(
    t("reschedule.review_title"),
    h(
      "dl",
      { class: "summary" },
      h("dt", { text: t("reschedule.now") }),
      h("dd", { text: f.longWhen(from.start, from.end) }),
      h("dt", { text: t("reschedule.new") }),
      h("dd", { class: "when", text: f.longWhen(to.start, to.end) }),
      to.location ? [h("dt", { text: t("label.place") }), h("dd", { text: placeText(to.location) })] : null,
    ),
    notice(tb.requires_confirmation ? t("reschedule.becomes_request") : t("reschedule.stays_booked")),
    h("p", { text: t("reschedule.old_freed") }),
    h("div", { class: "actions" }, confirm, h("a", { href: back, text: t("reschedule.other_time") }), h("a", { href: "#/timeavtaler", text: t("reschedule.keep") })),
  );
}

// ---- step 5: «Se gjennom før du sender» -------------------------------------------------------

function countdown(hold, onExpired) {
  const visible = h("span", { class: "countdown" });
  const spoken = h("span", { class: "visually-hidden", "aria-live": "polite" });
  const expires = new Date(hold.expires_at).getTime();
  let lastMinute = null;
  const tick = () => {
    const left = Math.max(0, Math.round((expires - serverNow()) / 1000));
    visible.textContent = `${Math.floor(left / 60)}:${String(left % 60).padStart(2, "0")}`;
    const minutes = Math.ceil(left / 60);
    if (left === 0) {
      stop();
      spoken.textContent = t("countdown.over");
      onExpired();
    } else if (minutes !== lastMinute && (lastMinute !== null || minutes <= 2)) {
      spoken.textContent = tn("countdown.minutes_left", minutes);
    }
    lastMinute = minutes;
  };
  const stop = every(1000, tick);
  const node = h("p", { class: "notice", id: "hold-expiry" }, t("countdown.held_until", { time: f.time(hold.expires_at) }), " ", visible, spoken);
  setTimeout(tick, 0); // after the node is on the page: an expired hold replaces it
  return node;
}

function cancelDeadline(tb, start) {
  const hours = tb.cancel_deadline_hours || 0;
  if (!hours) return t("summary.cancel_any_time");
  const deadline = new Date(new Date(start).getTime() - hours * 3600_000).toISOString();
  return t("summary.cancel_until", { when: f.stamp(deadline), hours });
}

async function stepSummary() {
  const state = flow.get();
  if (!state.hold || !state.timebookId) {
    go(state.timebookId ? `#/timebok/${encodeURIComponent(state.timebookId)}` : "#/");
    return;
  }
  if (!auth.token()) {
    go(`#/logg-inn?neste=${encodeURIComponent("#/oppsummering")}`);
    return;
  }
  const tb = await timebook(state.timebookId);
  const place = tb.locations.find((l) => l.id === (state.hold.location_id || state.locationId)) || tb.locations[0];
  const minutes = Math.round((new Date(state.hold.end) - new Date(state.hold.start)) / 60000);
  const person = auth.people().find((p) => p.pid === (state.forPid || auth.claims().sub));
  const questions = tb.form?.questions || [];
  const answered = questions.filter((q) => state.answers?.[q.id]);
  const calendarHash = `#/timebok/${encodeURIComponent(tb.id)}/kalender?sted=${encodeURIComponent(place.id)}`;

  const phoneId = uid("phone");
  const phoneHint = uid("hint");
  const phone = h("input", { type: "tel", id: phoneId, name: "phone", autocomplete: "tel", required: true, "aria-describedby": phoneHint, value: state.phone || "" });
  // Off unless the person ticks it: the booking's phone gets SMS only when asked (docs/sms.md).
  const smsId = uid("sms");
  const smsToPhone = h("input", { type: "checkbox", id: smsId, name: "sms_to_phone", checked: !!state.smsToPhone });
  const descriptionId = uid("desc");
  const counterId = uid("count");
  const description = h("textarea", { id: descriptionId, name: "description", "aria-describedby": counterId, rows: "5" });
  description.value = state.description || "";
  const counter = h("p", { class: "counter", id: counterId });
  const updateCounter = () => {
    const used = f.serverLength(description.value);
    counter.textContent = t("summary.counter", { used, max: MAX_DESCRIPTION });
    counter.classList.toggle("over", used > MAX_DESCRIPTION);
  };
  description.addEventListener("input", () => {
    updateCounter();
    flow.set({ description: description.value });
  });
  phone.addEventListener("input", () => flow.set({ phone: phone.value }));
  smsToPhone.addEventListener("change", () => flow.set({ smsToPhone: smsToPhone.checked }));
  updateCounter();

  const send = h("button", { type: "submit", text: t("summary.send") });
  const form = h(
    "form",
    { novalidate: true },
    h("div", { class: "field" }, h("label", { for: phoneId, text: t("summary.phone") }), h("p", { class: "hint", id: phoneHint, text: t("summary.phone_hint") }), phone),
    h("div", { class: "field" }, h("span", { class: "check" }, smsToPhone, h("label", { for: smsId, text: t("summary.sms_to_phone") }))),
    h("div", { class: "field" }, h("label", { for: descriptionId, text: t("summary.description") }), description, counter),
    h(
      "div",
      { class: "actions" },
      send,
      h("a", { href: calendarHash, text: t("button.back") }),
      h("button", { type: "button", class: "link", onclick: () => cancelBooking(state) }, t("button.cancel")),
    ),
  );
  const expired = () => {
    stopTimers();
    send.disabled = true;
    const again = h("a", { href: calendarHash }, t("summary.choose_again"));
    const alert = h("div", { class: "notice bad", role: "alert", id: "hold-expiry", tabindex: "-1" }, t("summary.expired"), " ", again);
    document.getElementById("hold-expiry")?.replaceWith(alert);
    alert.focus();
  };

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const errors = [];
    if (!phone.value.trim()) errors.push({ target: phone, message: t("summary.phone_required") });
    if (f.serverLength(description.value) > MAX_DESCRIPTION) errors.push({ target: description, message: t("summary.too_long", { max: MAX_DESCRIPTION }) });
    if (errors.length) {
      showFieldErrors(form, errors, t("errors.title"));
      return;
    }
    send.disabled = true;
    busy(true);
    const body = { hold_id: state.hold.id, answers: state.answers || {}, phone: phone.value.trim(), description: description.value.trim(), sms_to_phone: smsToPhone.checked };
    if (state.forPid && state.forPid !== auth.claims().sub) body.for_pid = state.forPid;
    try {
      const appointment = await api("/appointments", { method: "POST", body, headers: { "Idempotency-Key": state.idempotencyKey } });
      stopTimers();
      flow.clear();
      months.clear(); // a place fewer
      go(`#/sendt/${encodeURIComponent(appointment.id)}`);
    } catch (error) {
      busy(false);
      send.disabled = false;
      if (error instanceof ApiError && error.status === 400 && error.fields.length) {
        const names = { phone: [phone, t("summary.phone_invalid")], description: [description, t("summary.too_long", { max: MAX_DESCRIPTION })] };
        showFieldErrors(
          form,
          error.fields.map((x) => ({ target: names[x.field]?.[0] || null, message: names[x.field]?.[1] || `${x.field}: ${x.message}` })),
          t("errors.title"),
        );
      } else if (error instanceof ApiError && ["hold_expired", "hold_gone", "hold_not_found"].includes(error.code)) {
        expired();
      } else {
        const link = errorLink(error);
        showAlert(errorText(error), ...(link ? [" ", link] : []));
      }
    }
  });

  render(
    t("summary.title"),
    stepLine(5, t("summary.step")),
    countdown(state.hold, expired),
    h("p", { class: "when", text: f.longWhen(state.hold.start, state.hold.end) }),
    h("p", { text: t("summary.with", { resource: tb.resource.name }) }),
    h(
      "dl",
      { class: "summary" },
      h("dt", { text: t("label.place") }),
      h("dd", { text: placeText(place) }),
      h("dt", { text: t("label.duration") }),
      h("dd", { text: f.duration(minutes) }),
      h("dt", { text: t("label.for") }),
      h("dd", { text: person?.name || auth.claims().name || "" }),
      h("dt", { text: t("label.cancel_deadline") }),
      h("dd", { text: cancelDeadline(tb, state.hold.start) }),
    ),
    tb.requires_confirmation ? notice(t("summary.request_note")) : null,
    answered.length ? h("h2", { text: t("summary.answers") }) : null,
    answered.length ? h("dl", { class: "stacked" }, answered.flatMap((q) => [h("dt", { text: q.text }), h("dd", { text: labelOf(q, state.answers[q.id]) })])) : null,
    form,
  );
}

function labelOf(question, value) {
  if (question.kind === "yes_no") return value === "ja" ? t("answer.yes") : t("answer.no");
  return value;
}

async function cancelBooking(state) {
  stopTimers();
  busy(true);
  if (state.hold) await api(`/holds/${encodeURIComponent(state.hold.id)}`, { method: "DELETE" }).catch(() => null);
  flow.clear();
  flow.set({ notice: "summary.cancelled" });
  months.clear();
  go("#/");
}

// ---- sent: «Timebestillingen er sendt» ---------------------------------------------------------

async function stepSent(appointmentId, query) {
  const appointment = await api(`/appointments/${encodeURIComponent(appointmentId)}`);
  const moved = query.get("endret");
  render(
    moved ? t("sent.moved_title") : t("sent.title"),
    moved ? null : h("p", { text: t("sent.thanks") }),
    appointment.status === "requested" ? notice(t("sent.request_note")) : notice(t("sent.booked_note"), "ok"),
    h("p", { class: "when", text: f.longWhen(appointment.start, appointment.end) }),
    h("p", { text: `${t("label.place")} ${placeText(appointment.location)}` }),
    h("div", { class: "actions" }, h("a", { class: "button", href: "#/timeavtaler", text: t("sent.to_appointments") })),
  );
}

// ---- step 6: «Timeavtaler» and «Innboks» -------------------------------------------------------

function needSignIn(title) {
  render(title, h("p", {}, t("signin.needed"), " ", h("a", { href: signInHash(), text: t("signin.button") })));
}

async function downloadIcs(appointment) {
  const response = await api(`/appointments/${encodeURIComponent(appointment.id)}/ics`, { raw: true });
  const disposition = response.headers.get("Content-Disposition") || "";
  const name = /filename="?([^";]+)"?/.exec(disposition)?.[1] || "timeavtale.ics";
  const url = URL.createObjectURL(await response.blob());
  const link = h("a", { href: url, download: name, class: "visually-hidden" }, name);
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
  announce(t("appointments.ics_done"));
}

function confirmDialog(question, yes, no) {
  return new Promise((resolve) => {
    const titleId = uid("dlg");
    const dialog = h(
      "dialog",
      { "aria-labelledby": titleId },
      h("h2", { id: titleId, text: question }),
      h(
        "form",
        { method: "dialog", class: "actions" },
        h("button", { value: "yes", class: "danger", text: yes }),
        h("button", { value: "no", class: "secondary", text: no, autofocus: true }),
      ),
    );
    dialog.addEventListener("close", () => {
      dialog.remove();
      resolve(dialog.returnValue === "yes");
    });
    document.body.append(dialog);
    dialog.showModal();
  });
}

function appointmentCard(a, onChange, highlighted) {
  const active = a.status === "requested" || a.status === "booked";
  const future = new Date(a.start).getTime() > serverNow();
  const title = t("appointments.card_title", { when: f.shortWhen(a.start), timebook: a.timebook.name.toLowerCase(), contact: a.health_contact.name });
  const actions = h("div", { class: "actions" });
  if (active && future) {
    actions.append(
      h("button", { type: "button", class: "secondary", onclick: () => guarded(() => downloadIcs(a)) }, t("appointments.ics")),
      h(
        "button",
        {
          type: "button",
          class: "secondary",
          onclick: () => {
            flow.set({
              timebookId: a.timebook.id,
              reschedule: { appointmentId: a.id, timebookId: a.timebook.id, start: a.start, end: a.end, status: a.status, locationId: a.location.id },
              rescheduleTo: null,
              hold: null,
            });
            go(`#/timebok/${encodeURIComponent(a.timebook.id)}/kalender?sted=${encodeURIComponent(a.location.id)}`);
          },
        },
        t("appointments.change"),
      ),
      h(
        "button",
        {
          type: "button",
          class: "danger",
          onclick: async () => {
            if (!(await confirmDialog(t("appointments.cancel_question", { when: f.shortWhen(a.start) }), t("appointments.cancel_yes"), t("appointments.cancel_no")))) return;
            await guarded(async () => {
              busy(true);
              await api(`/appointments/${encodeURIComponent(a.id)}/cancel`, { method: "POST", body: {} });
              months.clear();
              flow.set({ notice: "appointments.cancelled" });
              await onChange();
            });
          },
        },
        t("appointments.cancel"),
      ),
    );
  }
  const headingId = `a-${a.id}`;
  return h(
    "li",
    { class: highlighted ? "highlighted" : null, "aria-labelledby": headingId },
    h("h2", { id: headingId, tabindex: "-1", text: title }),
    h(
      "dl",
      { class: "summary" },
      h("dt", { text: t("label.duration") }),
      h("dd", { text: f.duration(a.duration_minutes) }),
      h("dt", { text: t("label.place") }),
      h("dd", { text: placeText(a.location) }),
      h("dt", { text: t("label.for") }),
      h("dd", { text: a.for?.name || "" }),
      h("dt", { text: t("label.status") }),
      h("dd", {}, h("span", { class: `badge ${a.status}` }, `● ${statusName(a.status)}`)),
      a.reason ? [h("dt", { text: t("label.reason") }), h("dd", { text: a.reason })] : null,
    ),
    actions.childElementCount ? actions : null,
  );
}

async function stepAppointments(query) {
  if (!auth.token()) return needSignIn(t("appointments.title"));
  if (flow.get().reschedule) flow.set({ reschedule: null, rescheduleTo: null }); // a change left unconfirmed
  const wanted = query.get("time");
  const show = async () => {
    const items = await listAll("/appointments");
    const now = serverNow();
    const upcoming = (a) => (a.status === "requested" || a.status === "booked") && new Date(a.end).getTime() > now;
    items.sort((a, b) => Number(upcoming(b)) - Number(upcoming(a)) || (upcoming(a) ? a.start.localeCompare(b.start) : b.start.localeCompare(a.start)));
    const said = takeNotice();
    const list = h("ul", { class: "cards" }, items.map((a) => appointmentCard(a, show, a.id === wanted)));
    const wrap = h("div", { id: "appointments" }, said, items.length ? list : notice(t("appointments.none")));
    const existing = document.getElementById("appointments");
    if (existing) {
      existing.replaceWith(wrap);
      busy(false);
      (said || document.querySelector("main h1")).focus();
    }
    return wrap;
  };
  const wrap = await show();
  render(
    t("appointments.title"),
    h("p", { text: t("appointments.lead") }),
    h("div", { class: "actions" }, h("a", { class: "button", href: "#/", text: t("nav.book") })),
    wrap,
  );
  const target = (wanted && document.getElementById(`a-${wanted}`)) || wrap.querySelector(".notice[tabindex]");
  if (target) {
    target.focus();
    target.scrollIntoView({ block: "start" });
  }
}

// Unread: messages whose ids this browser has not shown in «Innboks» yet.
function readIds() {
  try {
    return new Set(JSON.parse(localStorage.getItem(READ)) || []);
  } catch {
    return new Set();
  }
}

function markRead(ids) {
  const all = readIds();
  ids.forEach((id) => all.add(id));
  try {
    localStorage.setItem(READ, JSON.stringify([...all].slice(-500)));
  } catch {
    /* no storage: every message stays new */
  }
}

function showUnread(count) {
  const badge = document.getElementById("unread");
  if (!badge) return;
  badge.replaceChildren(...(count ? [" ", h("span", { class: "count", "aria-hidden": "true", text: String(count) }), h("span", { class: "visually-hidden", text: tn("inbox.unread", count) })] : []));
}

async function refreshUnread() {
  if (!auth.token() || auth.claims()?.role !== "citizen") return showUnread(0);
  try {
    const items = await listAll("/inbox", 2);
    const read = readIds();
    showUnread(items.filter((m) => !read.has(m.id)).length);
  } catch {
    showUnread(0);
  }
}

async function stepInbox() {
  if (!auth.token()) return needSignIn(t("inbox.title"));
  const items = await listAll("/inbox");
  items.sort((a, b) => b.created_at.localeCompare(a.created_at));
  const read = readIds();
  render(
    t("inbox.title"),
    items.length
      ? h(
          "ul",
          { class: "cards" },
          items.map((m) =>
            h(
              "li",
              { class: read.has(m.id) ? null : "unread" },
              h("h2", {}, read.has(m.id) ? null : h("span", { class: "new", text: `${t("inbox.new")} ` }), m.title),
              h("p", { class: "meta", text: f.stamp(m.created_at) }),
              h("p", { class: "message-body", text: m.body }),
              m.appointment_id && m.kind !== "offer"
                ? h("a", { href: `#/timeavtaler?time=${encodeURIComponent(m.appointment_id)}`, text: t("inbox.see_appointment") })
                : h("a", { href: "#/venteliste", text: t("inbox.see_waitlist") }),
            ),
          ),
        )
      : notice(t("inbox.none")),
  );
  markRead(items.map((m) => m.id));
  showUnread(0);
}

// ---- «Tilgjengelighetserklæring» and «Personvern og hjelp» ---------------------------------------

function textPage(prefix) {
  const sections = [];
  for (let i = 1; ; i += 1) {
    const key = `${prefix}.s${i}`;
    if (!hasText(`${key}.title`)) break;
    sections.push(h("h2", { text: t(`${key}.title`) }));
    for (let j = 1; hasText(`${key}.p${j}`); j += 1) sections.push(h("p", { text: t(`${key}.p${j}`) }));
  }
  render(t(`${prefix}.title`), h("p", { class: "lead", text: t(`${prefix}.lead`) }), sections);
}

// «Personvern»: the text, and the citizen's own copy of what is stored (GET /me/data) as a file.
function privacyPage() {
  textPage("privacy");
  const c = auth.claims();
  const part = c?.role === "citizen"
    ? h("button", { type: "button", onclick: () => guarded(downloadMyData) }, t("privacy.mydata.button"))
    : h("a", { href: signInHash(), text: t("privacy.mydata.signin") });
  document.querySelector("main").append(
    h("h2", { text: t("privacy.mydata.title") }),
    h("p", { text: t("privacy.mydata.p1") }),
    h("div", { class: "actions" }, part),
  );
}

async function downloadMyData() {
  busy(true);
  const data = await api("/me/data");
  busy(false);
  const file = new Blob([JSON.stringify(data, null, 2)], { type: "application/json" });
  const link = h("a", { href: URL.createObjectURL(file), download: `mine-opplysninger-${data.generated_at.slice(0, 10)}.json` });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
  announce(t("privacy.mydata.done"));
}

// ---- sign-in -------------------------------------------------------------------------------------

function afterSignIn(next) {
  const c = auth.claims();
  refreshUnread();
  if (next && next.startsWith("#/")) return go(next);
  if (next === "staff") return location.assign("staff.html");
  return go(c?.role === "staff" ? "#/" : "#/timeavtaler");
}

async function stepSignIn(query) {
  const config = await loadConfig();
  const next = query.get("neste");
  render(
    t("signin.title"),
    h("p", { text: t("signin.external") }),
    config.stage === "local" ? notice(t("signin.demo")) : null,
    h("div", { class: "actions" }, h("button", { type: "button", onclick: () => guarded(() => signin.start(config, next)) }, t("signin.button"))),
  );
}

// Back from the identity provider (?code=&state=): signed in only if this tab started it.
async function finishSignIn() {
  try {
    const done = await signin.finish();
    if (done) return afterSignIn(done.next);
  } catch (error) {
    if (!(error instanceof signin.SignInError)) throw error;
    console.error(error);
    header();
    render(t("signin.failed.title"), notice(t("signin.failed.body"), "bad"), h("p", {}, h("a", { href: "#/logg-inn", text: t("signin.again") })));
    return;
  }
  await route();
}

async function stepStart() {
  await stepHealthContacts();
  const said = takeNotice();
  if (said) {
    document.querySelector("main h1").after(said);
    said.focus();
  }
}

// ---- header and router ---------------------------------------------------------------------------

function header() {
  const who = document.getElementById("who");
  const c = auth.claims();
  if (c) {
    who.replaceChildren(...present([
      h("span", { text: t("header.signed_in_as", { name: c.name || "" }) }),
      c.role === "staff" ? h("a", { href: "staff.html", text: t("header.staff") }) : null,
      h("button", { type: "button", onclick: () => { auth.signOut(); showUnread(0); go("#/"); } }, t("header.sign_out")),
    ]));
  } else {
    who.replaceChildren(h("a", { href: signInHash(), text: t("signin.button") }));
  }
  const sections = ["#/timeavtaler", "#/innboks", "#/venteliste", "#/tilgjengelighet", "#/personvern"];
  const section = sections.find((s) => location.hash.startsWith(s)) || "#/";
  document.querySelectorAll("header nav:not(.languages) a, footer a").forEach((a) => (a.getAttribute("href") === section ? a.setAttribute("aria-current", "page") : a.removeAttribute("aria-current")));
  // The language switch keeps the step: the same hash, another ?lang=.
  document.querySelectorAll("nav.languages a").forEach((a) => {
    a.setAttribute("href", `?lang=${a.dataset.lang}${location.hash}`);
    if (a.dataset.lang === language()) a.setAttribute("aria-current", "true");
    else a.removeAttribute("aria-current");
  });
}

const ROUTES = [
  [/^\/?$/, () => stepStart()],
  [/^\/helsekontakt\/([^/]+)$/, (m) => stepTimebooks(decodeURIComponent(m[1]))],
  [/^\/timebok\/([^/]+)$/, (m) => stepForm(decodeURIComponent(m[1]))],
  [/^\/timebok\/([^/]+)\/sted$/, (m) => stepLocation(decodeURIComponent(m[1]))],
  [/^\/timebok\/([^/]+)\/kalender$/, (m, q) => stepCalendar(decodeURIComponent(m[1]), q)],
  // The feed's booking-deep-link as published before issue 19: that slot's day, the time selected.
  [/^\/timebooks\/([^/]+)\/slots$/, (m, q) => go(`#/timebok/${m[1]}/kalender?${new URLSearchParams({ sted: q.get("location") || "", maaned: (q.get("date") || "").slice(0, 7), dato: q.get("date") || "", tid: q.get("slot") || "" })}`)],
  [/^\/oppsummering$/, () => stepSummary()],
  [/^\/endre$/, () => stepReschedule()],
  [/^\/sendt\/([^/]+)$/, (m, q) => stepSent(decodeURIComponent(m[1]), q)],
  [/^\/timeavtaler$/, (m, q) => stepAppointments(q)],
  [/^\/venteliste$/, () => stepWaitlist()],
  [/^\/innboks$/, () => stepInbox()],
  [/^\/tilgjengelighet$/, () => textPage("accessibility")],
  [/^\/personvern$/, () => privacyPage()],
  [/^\/logg-inn$/, (m, q) => stepSignIn(q)],
  [/^\/innlogget/, () => go("#/logg-inn")], // no token is ever taken from a link
];

// One view at a time, the latest wins: a slow earlier view never renders over a later one
// (its answer arrives first, then the view asked for last replaces it).
let routing = Promise.resolve();
let asked = 0;
function route() {
  if (location.hash && !location.hash.startsWith("#/")) return routing; // in-page anchors (skip link)
  busy(true); // progress at once; render() ends it
  const mine = ++asked;
  routing = routing.then(() => (mine === asked ? showView() : null));
  return routing;
}

async function showView() {
  stopTimers();
  const [path, search] = location.hash.slice(1).split("?");
  header();
  for (const [pattern, view] of ROUTES) {
    const match = pattern.exec(path || "/");
    if (match) {
      await guarded(() => view(match, new URLSearchParams(search || "")));
      return;
    }
  }
  render(t("notfound.title"), h("p", {}, h("a", { href: "#/", text: t("notfound.home") })));
}

async function start() {
  busy(true);
  await loadLanguage();
  f.setLanguage(language());
  apiTexts.network = t("error.network");
  apiTexts.busy = (seconds) => tn("api.busy", seconds);
  translateDocument();
  window.addEventListener("hashchange", route);
  window.addEventListener("timebok:signed-in", header);
  document.querySelector(".skip")?.addEventListener("click", (event) => {
    event.preventDefault();
    document.querySelector("main h1")?.focus();
  });
  refreshUnread();
  await finishSignIn();
}

start();
