// The citizen portal: the municipal guide's six steps, one view per step, routed by the hash.
import { api, ApiError, listAll, loadConfig, serverNow } from "./api.js";
import * as auth from "./auth.js";
import * as f from "./format.js";
import * as signin from "./signin.js";
import { announce, h, notice, present, radio, render, showAlert, showFieldErrors, uid } from "./ui.js";

const MAX_DESCRIPTION = 1000;
const FLOW = "timebok.flow";

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

const go = (hash) => {
  if (location.hash === hash) route();
  else location.hash = hash;
};

function stepLine(number, text) {
  return h("p", { class: "steps" }, `Steg ${number} av 6: ${text}`);
}

function errorText(error) {
  const texts = {
    network: "Får ikke kontakt med tjenesten. Sjekk nettet og prøv igjen.",
    unauthorized: "Du må logge inn på nytt.",
    citizen_only: "Logg inn som innbygger for å bestille time.",
    staff_only: "Denne siden er for ansatte i kommunen.",
    slot_unavailable: "Timen er ikke lenger ledig.",
    hold_expired: "Tiden for å holde av timen gikk ut.",
    hold_gone: "Timen er ikke lenger holdt av for deg.",
    hold_not_found: "Timen er ikke lenger holdt av for deg.",
    active_appointment_exists: "Du har allerede en aktiv time i denne timeboken. Avbestill den først, eller endre den.",
    cancel_deadline_passed: "Fristen for å avbestille på nett har gått ut. Kontakt kommunen.",
    not_representative: "Du kan ikke bestille time for denne personen.",
    throttled: "Mange bestiller nå. Prøv igjen om litt.",
    service_unavailable: "Tjenesten er midlertidig utilgjengelig. Prøv igjen om litt.",
  };
  if (error instanceof ApiError) return texts[error.code] || error.message || "Noe gikk galt.";
  return "Noe gikk galt. Prøv igjen.";
}

async function guarded(work) {
  try {
    await work();
  } catch (error) {
    console.error(error);
    if (error instanceof ApiError && error.status === 401) {
      auth.signOut();
      showAlert("Innloggingen din er utløpt. Logg inn på nytt.");
      return;
    }
    showAlert(errorText(error));
  }
}

// ---- step 1: «Bestill time» → «Hvem vil du bestille time hos?» --------------------------------

async function stepHealthContacts() {
  const contacts = await listAll("/health-contacts");
  render(
    "Bestill time",
    h("p", { class: "lead" }, "Her kan du bestille time hos kommunen, for eksempel til koronatest, vaksine eller konsultasjon."),
    h("h2", { text: "Hvem vil du bestille time hos?" }),
    contacts.length
      ? h(
          "ul",
          { class: "choices" },
          contacts.map((c) => h("li", {}, h("a", { href: `#/helsekontakt/${encodeURIComponent(c.id)}` }, c.name))),
        )
      : notice("Ingen helsekontakter tilbyr timebestilling akkurat nå."),
  );
}

// ---- step 2: «Hva trenger du?» ------------------------------------------------------------------

async function stepTimebooks(contactId) {
  const books = await listAll(`/health-contacts/${encodeURIComponent(contactId)}/timebooks`);
  const form = h("form", { novalidate: true });
  const group = h("fieldset", {}, h("legend", { text: "Velg tjeneste" }), books.map((b, i) => radio("timebook", b.id, b.name, { checked: books.length === 1 && i === 0, sub: b.description })));
  form.append(
    group,
    h("div", { class: "actions" }, h("button", { type: "submit", text: "Neste" }), h("a", { href: "#/", text: "Avbryt" })),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const chosen = form.querySelector("input[name=timebook]:checked");
    if (!chosen) {
      showFieldErrors(form, [{ target: group, message: "Velg hva du trenger." }]);
      return;
    }
    flow.set({ timebookId: chosen.value, answers: {}, hold: null, reschedule: null });
    go(`#/timebok/${encodeURIComponent(chosen.value)}`);
  });
  render(
    "Hva trenger du?",
    stepLine(2, "velg tjeneste"),
    h("p", { text: "Her kan du se tjenester som tilbys av helsekontakten eller tilhørende behandlingssted." }),
    books.length ? form : notice("Denne helsekontakten har ingen timebøker åpne for bestilling."),
  );
}

// ---- step 2, the form: the municipality's questions, on behalf of whom -----------------------

function questionField(question, saved) {
  const legend = h("legend", { text: question.text + (question.required ? "" : " (valgfritt)") });
  if (question.kind === "yes_no") {
    return h(
      "fieldset",
      { "data-question": question.id },
      legend,
      h("div", { class: "inline-radios" }, radio(`q-${question.id}`, "ja", "Ja", { checked: saved === "ja" }), radio(`q-${question.id}`, "nei", "Nei", { checked: saved === "nei" })),
    );
  }
  if (question.kind === "choice") {
    return h("fieldset", { "data-question": question.id }, legend, question.options.map((o) => radio(`q-${question.id}`, o, o, { checked: saved === o })));
  }
  const id = uid("q");
  return h(
    "div",
    { class: "field", "data-question": question.id },
    h("label", { for: id, text: question.text + (question.required ? "" : " (valgfritt)") }),
    h("input", { type: "text", id, name: `q-${question.id}`, value: saved || "", maxlength: "500" }),
  );
}

function readAnswer(form, question) {
  if (question.kind === "text") return form.querySelector(`[name="q-${question.id}"]`).value.trim();
  return form.querySelector(`input[name="q-${question.id}"]:checked`)?.value || "";
}

async function stepForm(timebookId) {
  const tb = await timebook(timebookId);
  const state = flow.get().timebookId === timebookId ? flow.get() : flow.set({ timebookId, answers: {}, hold: null, reschedule: null });
  const people = auth.people();
  const form = h("form", { novalidate: true });
  let forGroup = null;
  if (people.length > 1) {
    const current = state.forPid || people[0].pid;
    forGroup = h(
      "fieldset",
      {},
      h("legend", { text: "Hvem gjelder timen?" }),
      people.map((p) => radio("for", p.pid, p.self ? `Meg selv (${p.name})` : p.name, { checked: p.pid === current })),
    );
    form.append(forGroup);
  } else if (!auth.token()) {
    form.append(
      h(
        "p",
        { class: "hint" },
        "Skal du bestille for et barn eller en annen du kan representere? ",
        h("a", { href: `#/logg-inn?neste=${encodeURIComponent(location.hash)}` }, "Logg inn først"),
        ", så kan du velge hvem timen gjelder.",
      ),
    );
  }
  const questions = tb.form?.questions || [];
  for (const question of questions) form.append(questionField(question, state.answers?.[question.id]));
  form.append(h("div", { class: "actions" }, h("button", { type: "submit", text: "Neste" }), h("a", { href: `#/helsekontakt/${encodeURIComponent(tb.health_contact.id)}`, text: "Tilbake" })));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const answers = {};
    const errors = [];
    for (const question of questions) {
      const value = readAnswer(form, question);
      if (value) answers[question.id] = value;
      else if (question.required) errors.push({ target: form.querySelector(`[data-question="${question.id}"]`), message: `Svar på: ${question.text}` });
    }
    if (errors.length) {
      showFieldErrors(form, errors);
      return;
    }
    const forPid = forGroup ? form.querySelector("input[name=for]:checked")?.value : null;
    flow.set({ answers, forPid: forPid || null });
    const next = tb.locations.length === 1 ? `kalender?sted=${encodeURIComponent(tb.locations[0].id)}` : "sted";
    go(`#/timebok/${encodeURIComponent(tb.id)}/${next}`);
  });
  render(
    tb.form?.title || tb.name,
    stepLine(2, "svar på spørsmålene"),
    tb.description ? h("p", { text: tb.description }) : null,
    questions.length ? h("p", { text: "Med å svare på spørsmålene hjelper du oss med effektiv testing." }) : null,
    form,
  );
}

// ---- step 3: «Oppmøtested», then the month calendar ------------------------------------------

function placeText(location) {
  return `${location.name}, ${location.address}${location.directions ? ` (${location.directions})` : ""}`;
}

async function stepLocation(timebookId) {
  const tb = await timebook(timebookId);
  const form = h("form", { novalidate: true });
  const group = h(
    "fieldset",
    {},
    h("legend", { text: "Velg oppmøtested" }),
    tb.locations.map((l) => radio("location", l.id, l.name, { checked: flow.get().locationId === l.id, sub: `${l.address}${l.directions ? ` (${l.directions})` : ""}` })),
  );
  form.append(group, h("div", { class: "actions" }, h("button", { type: "submit", text: "Neste" }), h("a", { href: `#/timebok/${encodeURIComponent(tb.id)}`, text: "Tilbake" })));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const chosen = form.querySelector("input[name=location]:checked");
    if (!chosen) {
      showFieldErrors(form, [{ target: group, message: "Velg et oppmøtested." }]);
      return;
    }
    go(`#/timebok/${encodeURIComponent(tb.id)}/kalender?sted=${encodeURIComponent(chosen.value)}`);
  });
  render("Oppmøtested", stepLine(3, "velg sted"), form);
}

function calendarTable(month, days, selected, onPick) {
  const free = new Map(days.map((d) => [d.date, d.free]));
  const [year, monthNumber] = month.split("-").map(Number);
  const first = new Date(Date.UTC(year, monthNumber - 1, 1));
  const daysInMonth = new Date(Date.UTC(year, monthNumber, 0)).getUTCDate();
  const lead = (first.getUTCDay() + 6) % 7; // Monday first
  const rows = [];
  let cells = Array.from({ length: lead }, () => h("td"));
  for (let day = 1; day <= daysInMonth; day += 1) {
    const date = `${month}-${String(day).padStart(2, "0")}`;
    const count = free.get(date) || 0;
    // The name says the whole date and the count; the visible text (day, count) is part of it.
    const [weekday, rest] = f.longDay(date).split(/ (.+)/);
    const hidden = (text) => h("span", { class: "visually-hidden", text });
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
              h("span", { class: "free-count", text: `${count} ledige` }),
            )
          : h("span", { class: "none" }, h("span", { "aria-hidden": "true", text: String(day) }), hidden(`${f.longDay(date)}, ingen ledige`)),
      ),
    );
    if (cells.length === 7) {
      rows.push(h("tr", {}, cells));
      cells = [];
    }
  }
  if (cells.length) rows.push(h("tr", {}, cells, Array.from({ length: 7 - cells.length }, () => h("td"))));
  const names = [["Man", "mandag"], ["Tir", "tirsdag"], ["Ons", "onsdag"], ["Tor", "torsdag"], ["Fre", "fredag"], ["Lør", "lørdag"], ["Søn", "søndag"]];
  return h(
    "table",
    { class: "calendar" },
    h("caption", { class: "visually-hidden", text: `Ledige dager i ${f.monthName(month)}` }),
    h("thead", {}, h("tr", {}, names.map(([short, long]) => h("th", { scope: "col" }, h("abbr", { title: long, text: short }))))),
    h("tbody", {}, rows),
  );
}

async function firstMonthWithFreeDays(tb, locationId, start) {
  for (let i = 0; i < 3; i += 1) {
    const month = f.addMonths(start, i);
    const data = await api(`/timebooks/${encodeURIComponent(tb.id)}/calendar?month=${month}&location=${encodeURIComponent(locationId)}`);
    if (data.days.some((d) => d.free > 0)) return { month, data };
  }
  const data = await api(`/timebooks/${encodeURIComponent(tb.id)}/calendar?month=${start}&location=${encodeURIComponent(locationId)}`);
  return { month: start, data };
}

async function stepCalendar(timebookId, query) {
  const tb = await timebook(timebookId);
  const state = flow.get();
  const locationId = query.get("sted") || tb.locations[0]?.id;
  const place = tb.locations.find((l) => l.id === locationId) || tb.locations[0];
  if (state.timebookId !== timebookId) flow.set({ timebookId, answers: {}, hold: null });
  flow.set({ locationId: place.id });
  const thisMonth = f.todayInOslo().slice(0, 7);
  let month = query.get("maaned");
  let data;
  if (month) {
    data = await api(`/timebooks/${encodeURIComponent(tb.id)}/calendar?month=${month}&location=${encodeURIComponent(place.id)}`);
  } else {
    ({ month, data } = await firstMonthWithFreeDays(tb, place.id, thisMonth));
  }
  const selected = query.get("dato");
  const here = (changes) => {
    const next = new URLSearchParams({ sted: place.id, maaned: month });
    for (const [k, v] of Object.entries(changes)) v === null ? next.delete(k) : next.set(k, v);
    return `#/timebok/${encodeURIComponent(tb.id)}/kalender?${next}`;
  };
  const monthBar = h(
    "div",
    { class: "monthbar" },
    h("button", { type: "button", class: "secondary", onclick: () => go(here({ maaned: thisMonth, dato: null })) }, "I dag"),
    h("button", { type: "button", class: "secondary", "aria-label": "Forrige måned", disabled: month <= thisMonth, onclick: () => go(here({ maaned: f.addMonths(month, -1), dato: null })) }, "‹"),
    h("h2", { "aria-live": "polite", text: f.monthName(month) }),
    h("button", { type: "button", class: "secondary", "aria-label": "Neste måned", onclick: () => go(here({ maaned: f.addMonths(month, 1), dato: null })) }, "›"),
  );
  const reschedule = state.reschedule;
  const heading = render(
    reschedule ? "Endre time" : "Velg time",
    reschedule ? null : stepLine(3, "velg dag"),
    h("div", { class: "resource" }, h("strong", { text: tb.resource.name }), tb.resource.description ? h("p", { text: tb.resource.description }) : null),
    h(
      "p",
      {},
      h("strong", { text: "Oppmøtested: " }),
      placeText(place),
      tb.locations.length > 1 ? [" ", h("a", { href: `#/timebok/${encodeURIComponent(tb.id)}/sted`, text: "Bytt oppmøtested" })] : null,
    ),
    monthBar,
    calendarTable(month, data.days, selected, (date) => go(here({ dato: date }))),
    data.days.some((d) => d.free > 0) ? null : notice("Ingen ledige timer denne måneden. Prøv neste måned."),
  );
  if (!selected) return;
  const section = await timesSection(tb, place, selected, reschedule);
  document.getElementById("main").append(section);
  // Back from signing in: take the time chosen before (if it went meanwhile, the API says so
  // and the page offers the next free one).
  const pending = flow.get().pendingSlot;
  if (pending && auth.token()) {
    flow.set({ pendingSlot: null });
    return takeTime(tb, place, pending, section);
  }
  section.querySelector("h2").focus();
  void heading;
}

async function timesSection(tb, place, date, reschedule, lost = null) {
  const data = await api(`/timebooks/${encodeURIComponent(tb.id)}/slots?date=${date}&location=${encodeURIComponent(place.id)}`);
  const section = h("section", { "aria-labelledby": "times-heading" });
  section.slots = data.items;
  const heading = h("h2", { id: "times-heading", tabindex: "-1", text: `Ledige timer ${f.dayMonth(date)}` });
  section.append(heading);
  if (lost) {
    const next = data.items.find((s) => s.start >= lost.start);
    section.append(
      h(
        "div",
        { class: "notice bad", role: "alert" },
        h("p", { text: `Noen andre rakk å ta timen ${f.span(lost.start, lost.end)}.` }),
        next
          ? h("p", {}, `Neste ledige time er ${f.span(next.start, next.end)}. `, h("button", { type: "button", id: "take-next", onclick: () => takeTime(tb, place, next, section) }, `Velg ${f.span(next.start, next.end)}`))
          : h("p", { text: "Det er ingen flere ledige timer denne dagen. Velg en annen dag i kalenderen." }),
      ),
    );
  }
  if (!data.items.length) {
    section.append(notice("Ingen ledige timer denne dagen."));
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
          h("button", { type: "button", class: "secondary", "aria-label": `${f.span(slot.start, slot.end)}, ${slot.free} ledig${slot.free === 1 ? "" : "e"}`, onclick: () => takeTime(tb, place, slot, section, reschedule) }, f.span(slot.start, slot.end)),
        ),
      ),
    ),
  );
  return section;
}

// ---- step 4: take the time: a hold, or on a lost race the next free time ---------------------

async function postHold(slot, forPid) {
  const own = auth.claims()?.sub;
  const body = { slot_id: slot.id };
  if (forPid && forPid !== own) body.for_pid = forPid;
  try {
    return await api("/holds", { method: "POST", body });
  } catch (error) {
    // An API without `for_pid` on holds (before API.md's addition) refuses the field: the
    // appointment still names the person, so hold without it.
    if (error instanceof ApiError && error.status === 400 && error.fields.some((x) => x.field.includes("for_pid")) && body.for_pid) {
      delete body.for_pid;
      return api("/holds", { method: "POST", body });
    }
    throw error;
  }
}

async function takeTime(tb, place, slot, section, reschedule = flow.get().reschedule) {
  if (!auth.token()) {
    flow.set({ pendingSlot: { id: slot.id, start: slot.start, end: slot.end } });
    go(`#/logg-inn?neste=${encodeURIComponent(location.hash)}`);
    return;
  }
  section.querySelectorAll("button").forEach((b) => (b.disabled = true));
  announce("Holder av timen …");
  try {
    if (reschedule) {
      await api(`/appointments/${encodeURIComponent(reschedule.appointmentId)}/reschedule`, { method: "POST", body: { slot_id: slot.id } });
      flow.set({ reschedule: null });
      announce("");
      go(`#/sendt/${encodeURIComponent(reschedule.appointmentId)}?endret=1`);
      return;
    }
    const old = flow.get().hold;
    if (old) await api(`/holds/${encodeURIComponent(old.id)}`, { method: "DELETE" }).catch(() => null);
    const hold = await postHold(slot, flow.get().forPid);
    flow.set({ hold, slot, locationId: place.id, idempotencyKey: crypto.randomUUID() });
    announce("");
    go("#/oppsummering");
  } catch (error) {
    announce("");
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
      go(`#/logg-inn?neste=${encodeURIComponent(location.hash)}`);
      return;
    }
    showAlert(errorText(error));
  }
}

// ---- step 5: «Se gjennom før du sender» -------------------------------------------------------

let stopCountdown = () => {};

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
      clearInterval(timer);
      spoken.textContent = "Tiden er ute.";
      onExpired();
    } else if (minutes !== lastMinute && (lastMinute !== null || minutes <= 2)) {
      spoken.textContent = `${minutes} minutt${minutes === 1 ? "" : "er"} igjen til timen ikke lenger er holdt av.`;
    }
    lastMinute = minutes;
  };
  const timer = setInterval(tick, 1000);
  stopCountdown = () => clearInterval(timer);
  tick();
  return h(
    "p",
    { class: "notice", id: "hold-expiry" },
    `Timen er holdt av for deg til kl. ${f.time(hold.expires_at)}. Tid igjen: `,
    visible,
    spoken,
  );
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

  const phoneId = uid("phone");
  const phoneHint = uid("hint");
  const phone = h("input", { type: "tel", id: phoneId, name: "phone", autocomplete: "tel", required: true, "aria-describedby": phoneHint, value: state.phone || "" });
  const descriptionId = uid("desc");
  const counterId = uid("count");
  const description = h("textarea", { id: descriptionId, name: "description", "aria-describedby": counterId, rows: "5" });
  description.value = state.description || "";
  const counter = h("p", { class: "counter", id: counterId });
  const updateCounter = () => {
    const used = f.serverLength(description.value);
    counter.textContent = `${used}/${MAX_DESCRIPTION} tegn`;
    counter.classList.toggle("over", used > MAX_DESCRIPTION);
  };
  description.addEventListener("input", () => {
    updateCounter();
    flow.set({ description: description.value });
  });
  phone.addEventListener("input", () => flow.set({ phone: phone.value }));
  updateCounter();

  const send = h("button", { type: "submit", text: "Send bestilling" });
  const form = h(
    "form",
    { novalidate: true },
    h("div", { class: "field" }, h("label", { for: phoneId, text: "Oppgi telefonnummer for kontakt" }), h("p", { class: "hint", id: phoneHint, text: "For eksempel 912 34 567" }), phone),
    h("div", { class: "field" }, h("label", { for: descriptionId, text: "Beskrivelse (valgfritt)" }), description, counter),
    h(
      "div",
      { class: "actions" },
      send,
      h("a", { href: `#/timebok/${encodeURIComponent(tb.id)}/kalender?sted=${encodeURIComponent(place.id)}`, text: "Tilbake" }),
      h("button", { type: "button", class: "link", onclick: () => cancelBooking(state) }, "Avbryt"),
    ),
  );
  const expired = () => {
    send.disabled = true;
    const again = h("a", { href: `#/timebok/${encodeURIComponent(tb.id)}/kalender?sted=${encodeURIComponent(place.id)}` }, "Velg time på nytt");
    document.getElementById("hold-expiry")?.replaceWith(h("div", { class: "notice bad", role: "alert", id: "hold-expiry" }, "Tiden gikk ut, og timen er ikke lenger holdt av for deg. ", again));
  };

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const errors = [];
    if (!phone.value.trim()) errors.push({ target: phone, message: "Skriv telefonnummeret ditt." });
    if (f.serverLength(description.value) > MAX_DESCRIPTION) errors.push({ target: description, message: `Beskrivelsen kan ha høyst ${MAX_DESCRIPTION} tegn.` });
    if (errors.length) {
      showFieldErrors(form, errors);
      return;
    }
    send.disabled = true;
    const body = { hold_id: state.hold.id, answers: state.answers || {}, phone: phone.value.trim(), description: description.value.trim() };
    if (state.forPid && state.forPid !== auth.claims().sub) body.for_pid = state.forPid;
    try {
      const appointment = await api("/appointments", { method: "POST", body, headers: { "Idempotency-Key": state.idempotencyKey } });
      stopCountdown();
      flow.clear();
      go(`#/sendt/${encodeURIComponent(appointment.id)}`);
    } catch (error) {
      send.disabled = false;
      if (error instanceof ApiError && error.status === 400 && error.fields.length) {
        const names = { phone: [phone, "Skriv et gyldig telefonnummer, for eksempel 912 34 567."], description: [description, `Beskrivelsen kan ha høyst ${MAX_DESCRIPTION} tegn.`] };
        showFieldErrors(
          form,
          error.fields.map((x) => ({ target: names[x.field]?.[0] || null, message: names[x.field]?.[1] || `${x.field}: ${x.message}` })),
        );
      } else if (error instanceof ApiError && ["hold_expired", "hold_gone", "hold_not_found"].includes(error.code)) {
        stopCountdown();
        expired();
      } else {
        showAlert(errorText(error));
      }
    }
  });

  render(
    "Se gjennom før du sender",
    stepLine(5, "oppsummering"),
    countdown(state.hold, expired),
    h("p", { class: "when", text: f.longWhen(state.hold.start, state.hold.end) }),
    h("p", { text: `Time hos ${tb.resource.name}` }),
    h(
      "dl",
      { class: "summary" },
      h("dt", { text: "Oppmøtested:" }),
      h("dd", { text: placeText(place) }),
      h("dt", { text: "Antatt varighet:" }),
      h("dd", { text: f.duration(minutes) }),
      h("dt", { text: "Timen gjelder:" }),
      h("dd", { text: person?.name || auth.claims().name || "" }),
    ),
    answered.length ? h("h2", { text: "Dine svar" }) : null,
    answered.length ? h("dl", { class: "stacked" }, answered.flatMap((q) => [h("dt", { text: q.text }), h("dd", { text: labelOf(q, state.answers[q.id]) })])) : null,
    form,
  );
}

function labelOf(question, value) {
  if (question.kind === "yes_no") return value === "ja" ? "Ja" : "Nei";
  return value;
}

async function cancelBooking(state) {
  stopCountdown();
  if (state.hold) await api(`/holds/${encodeURIComponent(state.hold.id)}`, { method: "DELETE" }).catch(() => null);
  flow.clear();
  announce("Bestillingen er avbrutt, og timen er frigitt.");
  go("#/");
}

// ---- sent: «Timebestillingen er sendt» ---------------------------------------------------------

async function stepSent(appointmentId, query) {
  const appointment = await api(`/appointments/${encodeURIComponent(appointmentId)}`);
  const moved = query.get("endret");
  render(
    moved ? "Timen er endret" : "Timebestillingen er sendt",
    moved ? null : h("p", { text: "Takk for din henvendelse." }),
    appointment.status === "requested"
      ? notice("Bestillingen er kun en forespørsel. Timen er ikke tildelt før du mottar en bekreftelse.")
      : notice("Timen er tildelt. Du får en melding i Innboks.", "ok"),
    h("p", { class: "when", text: f.longWhen(appointment.start, appointment.end) }),
    h("p", { text: `Oppmøtested: ${placeText(appointment.location)}` }),
    h("div", { class: "actions" }, h("a", { class: "button", href: "#/timeavtaler", text: "Gå til timeavtaler" })),
  );
}

// ---- step 6: «Timeavtaler» and «Innboks» -------------------------------------------------------

function needSignIn(title) {
  render(title, h("p", {}, "Du må logge inn for å se dette. ", h("a", { href: `#/logg-inn?neste=${encodeURIComponent(location.hash)}`, text: "Logg inn" })));
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
  announce("Kalenderfilen er lastet ned.");
}

function confirmDialog(question, yes) {
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
        h("button", { value: "no", class: "secondary", text: "Nei, behold timen", autofocus: true }),
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

function appointmentCard(a, onChange) {
  const active = a.status === "requested" || a.status === "booked";
  const future = new Date(a.start).getTime() > serverNow();
  const title = `${f.shortWhen(a.start)}: Time til ${a.timebook.name.toLowerCase()} hos ${a.health_contact.name}`;
  const actions = h("div", { class: "actions" });
  if (active && future) {
    actions.append(
      h("button", { type: "button", class: "secondary", onclick: () => guarded(() => downloadIcs(a)) }, "Legg i egen kalender"),
      h(
        "button",
        {
          type: "button",
          class: "secondary",
          onclick: () => {
            flow.set({ timebookId: a.timebook.id, reschedule: { appointmentId: a.id }, hold: null });
            go(`#/timebok/${encodeURIComponent(a.timebook.id)}/kalender?sted=${encodeURIComponent(a.location.id)}`);
          },
        },
        "Endre time",
      ),
      h(
        "button",
        {
          type: "button",
          class: "danger",
          onclick: async () => {
            if (!(await confirmDialog(`Vil du avbestille timen ${f.shortWhen(a.start)}?`, "Ja, avbestill"))) return;
            await guarded(async () => {
              await api(`/appointments/${encodeURIComponent(a.id)}/cancel`, { method: "POST", body: {} });
              announce("Timen er avbestilt.");
              await onChange();
            });
          },
        },
        "Avbestill time",
      ),
    );
  }
  return h(
    "li",
    {},
    h("h2", { text: title }),
    h(
      "dl",
      { class: "summary" },
      h("dt", { text: "Antatt varighet:" }),
      h("dd", { text: f.duration(a.duration_minutes) }),
      h("dt", { text: "Oppmøtested:" }),
      h("dd", { text: placeText(a.location) }),
      h("dt", { text: "Timen gjelder:" }),
      h("dd", { text: a.for?.name || "" }),
      h("dt", { text: "Status:" }),
      h("dd", {}, h("span", { class: `badge ${a.status}` }, `● ${f.STATUS[a.status] || a.status}`)),
      a.reason ? [h("dt", { text: "Begrunnelse:" }), h("dd", { text: a.reason })] : null,
    ),
    actions.childElementCount ? actions : null,
  );
}

async function stepAppointments() {
  if (!auth.token()) return needSignIn("Timeavtaler");
  const show = async () => {
    const items = await listAll("/appointments");
    const now = serverNow();
    const upcoming = (a) => (a.status === "requested" || a.status === "booked") && new Date(a.end).getTime() > now;
    items.sort((a, b) => Number(upcoming(b)) - Number(upcoming(a)) || (upcoming(a) ? a.start.localeCompare(b.start) : b.start.localeCompare(a.start)));
    const list = h("ul", { class: "cards" }, items.map((a) => appointmentCard(a, show)));
    const existing = document.getElementById("appointments");
    const wrap = h("div", { id: "appointments" }, items.length ? list : notice("Du har ingen timeavtaler ennå."));
    if (existing) existing.replaceWith(wrap);
    return wrap;
  };
  const wrap = await show();
  render(
    "Timeavtaler",
    h("p", { text: "Her kan du se dine timeavtaler og timene til dem du representerer." }),
    h("div", { class: "actions" }, h("a", { class: "button", href: "#/", text: "Bestill time" })),
    wrap,
  );
}

async function stepInbox() {
  if (!auth.token()) return needSignIn("Innboks");
  const items = await listAll("/inbox");
  items.sort((a, b) => b.created_at.localeCompare(a.created_at));
  render(
    "Innboks",
    items.length
      ? h(
          "ul",
          { class: "cards" },
          items.map((m) =>
            h("li", {}, h("h2", { text: m.title }), h("p", { class: "meta", text: f.stamp(m.created_at) }), h("p", { class: "message-body", text: m.body }), h("a", { href: "#/timeavtaler", text: "Se timeavtaler" })),
          ),
        )
      : notice("Du har ingen meldinger."),
  );
}

// ---- sign-in -------------------------------------------------------------------------------------

function afterSignIn(next) {
  const c = auth.claims();
  if (next && next.startsWith("#/")) return go(next);
  if (next === "staff") return location.assign("staff.html");
  return go(c?.role === "staff" ? "#/" : "#/timeavtaler");
}

async function stepSignIn(query) {
  const config = await loadConfig();
  const next = query.get("neste");
  render(
    "Logg inn",
    h("p", { text: "Du logges inn hos identitetsleverandøren (ID-porten) og kommer tilbake hit." }),
    config.stage === "local" ? notice("Lokal demo: du velger en testperson hos den lokale identitetsleverandøren.") : null,
    h("div", { class: "actions" }, h("button", { type: "button", onclick: () => guarded(() => signin.start(config, next)) }, "Logg inn")),
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
    render("Innloggingen ble ikke fullført", notice("Ingen ble logget inn fra denne lenken. Vil du logge inn, start på nytt.", "bad"), h("p", {}, h("a", { href: "#/logg-inn", text: "Logg inn på nytt" })));
    return;
  }
  route();
}

// ---- header and router ---------------------------------------------------------------------------

function header() {
  const who = document.getElementById("who");
  const c = auth.claims();
  if (c) {
    who.replaceChildren(...present([
      h("span", { text: `Logget inn som ${c.name || "deg"}` }),
      c.role === "staff" ? h("a", { href: "staff.html", text: "Ressursoversikt" }) : null,
      h("button", { type: "button", onclick: () => { auth.signOut(); go("#/"); } }, "Logg ut"),
    ]));
  } else {
    who.replaceChildren(...present([h("a", { href: `#/logg-inn?neste=${encodeURIComponent(location.hash || "#/")}`, text: "Logg inn" })]));
  }
  const section = location.hash.startsWith("#/timeavtaler") ? "#/timeavtaler" : location.hash.startsWith("#/innboks") ? "#/innboks" : "#/";
  document.querySelectorAll("header nav a").forEach((a) => (a.getAttribute("href") === section ? a.setAttribute("aria-current", "page") : a.removeAttribute("aria-current")));
}

const ROUTES = [
  [/^\/?$/, () => stepHealthContacts()],
  [/^\/helsekontakt\/([^/]+)$/, (m) => stepTimebooks(decodeURIComponent(m[1]))],
  [/^\/timebok\/([^/]+)$/, (m) => stepForm(decodeURIComponent(m[1]))],
  [/^\/timebok\/([^/]+)\/sted$/, (m) => stepLocation(decodeURIComponent(m[1]))],
  [/^\/timebok\/([^/]+)\/kalender$/, (m, q) => stepCalendar(decodeURIComponent(m[1]), q)],
  [/^\/oppsummering$/, () => stepSummary()],
  [/^\/sendt\/([^/]+)$/, (m, q) => stepSent(decodeURIComponent(m[1]), q)],
  [/^\/timeavtaler$/, () => stepAppointments()],
  [/^\/innboks$/, () => stepInbox()],
  [/^\/logg-inn$/, (m, q) => stepSignIn(q)],
  [/^\/innlogget/, () => go("#/logg-inn")], // no token is ever taken from a link
];

async function route() {
  if (location.hash && !location.hash.startsWith("#/")) return; // in-page anchors (skip link)
  stopCountdown();
  const [path, search] = location.hash.slice(1).split("?");
  header();
  for (const [pattern, view] of ROUTES) {
    const match = pattern.exec(path || "/");
    if (match) {
      await guarded(() => view(match, new URLSearchParams(search || "")));
      return;
    }
  }
  render("Fant ikke siden", h("p", {}, h("a", { href: "#/", text: "Til forsiden" })));
}

window.addEventListener("hashchange", route);
window.addEventListener("timebok:signed-in", header);
document.querySelector(".skip")?.addEventListener("click", (event) => {
  event.preventDefault();
  document.querySelector("main h1")?.focus();
});
finishSignIn();
