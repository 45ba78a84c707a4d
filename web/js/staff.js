// Staff pages: requests first (across timebooks, bulk confirm), «Ressursoversikt» and the day list
// with check-in, capacity (schedules, slot edits, closures) and the audit log.
import { api, ApiError, listAll } from "./api.js";
import * as auth from "./auth.js";
import * as f from "./format.js";
import { capacityView, slotDialog } from "./staff-capacity.js";
import { dayList } from "./staff-day.js";
import { settingsView } from "./staff-settings.js";
import { birthDate, phone } from "./staff-format.js";
import { announce, busy, focusedNotice, h, notice, present, render, showAlert, uid } from "./ui.js";

const params = () => new URLSearchParams(location.hash.startsWith("#?") ? location.hash.slice(2) : "");

function header() {
  const c = auth.claims();
  const who = document.getElementById("who");
  who.replaceChildren(...present([
    c
      ? [h("span", { text: `Logget inn som ${c.name || "ansatt"}` }), h("button", { type: "button", onclick: () => { auth.signOut(); location.reload(); } }, "Logg ut")]
      : h("a", { href: "./#/logg-inn?neste=staff", text: "Logg inn" }),
  ]));
}

export function errorText(error) {
  const texts = {
    unauthorized: "Du må logge inn på nytt.",
    staff_only: "Denne siden er for ansatte i kommunen.",
    not_your_organisation: "Du administrerer ikke denne helsekontakten.",
    wrong_state: "Timen har allerede endret status. Oppdater siden.",
    slot_unavailable: "Timen er full, så forespørselen kan ikke bekreftes.",
    appointment_not_found: "Timen finnes ikke (lenger).",
    capacity_below_taken: "Så mange plasser er allerede tatt: kapasiteten kan ikke bli lavere enn antall tatte plasser.",
    overlap: "Tidene overlapper timer som finnes fra før på dette oppmøtestedet.",
    closure_not_found: "Stengingen finnes ikke.",
    network: "Får ikke kontakt med tjenesten.",
  };
  return error instanceof ApiError ? texts[error.code] || error.message : "Noe gikk galt.";
}

// A reason is required to reject or cancel: asked for in a modal dialog.
export function reasonDialog(title, action) {
  return new Promise((resolve) => {
    const titleId = uid("dlg");
    const fieldId = uid("reason");
    const reason = h("textarea", { id: fieldId, name: "reason", "aria-required": "true", maxlength: "1000", rows: "4" });
    const error = h("p", { class: "field-error", id: uid("err"), role: "alert" });
    const dialog = h(
      "dialog",
      { "aria-labelledby": titleId },
      h("h2", { id: titleId, text: title }),
      h(
        "form",
        { method: "dialog", novalidate: true },
        h("div", { class: "field" }, h("label", { for: fieldId, text: "Begrunnelse (vises for innbyggeren)" }), reason, error),
        h("div", { class: "actions" }, h("button", { value: "yes", class: "danger", text: action }), h("button", { value: "no", class: "secondary", formnovalidate: true, text: "Avbryt" })),
      ),
    );
    reason.addEventListener("input", () => {
      error.textContent = "";
      reason.removeAttribute("aria-invalid");
    });
    dialog.querySelector("form").addEventListener("submit", (event) => {
      if (event.submitter?.value === "yes" && !reason.value.trim()) {
        event.preventDefault();
        error.textContent = "Skriv en begrunnelse.";
        reason.setAttribute("aria-invalid", "true");
        reason.setAttribute("aria-describedby", error.id);
        reason.focus();
      }
    });
    dialog.addEventListener("close", () => {
      dialog.remove();
      resolve(dialog.returnValue === "yes" ? reason.value.trim() : null);
    });
    document.body.append(dialog);
    dialog.showModal();
  });
}

// The result of the last action, shown (and focused) at the top of the next render.
let result = null;

export function showResult(text, kind = "ok", ...more) {
  result = { text, kind, more };
}

export async function act(path, body, done) {
  try {
    await api(path, { method: "POST", body });
    announce(done);
    showResult(done);
    await show();
  } catch (error) {
    showAlert(errorText(error));
  }
}

function requestCard(a, { selectable = false } = {}) {
  const pick = selectable ? h("input", { type: "checkbox", name: "valgt", value: a.id, id: uid("pick") }) : null;
  return h(
    "li",
    { "data-id": a.id },
    selectable
      ? h("div", { class: "pick" }, pick, h("label", { for: pick.id, text: `Velg ${a.for?.name || ""}, ${f.shortWhen(a.start)}` }))
      : null,
    h("h3", { text: `${f.shortWhen(a.start)}: ${a.for?.name || ""}` }),
    h(
      "dl",
      { class: "summary" },
      h("dt", { text: "Status:" }),
      h("dd", {}, h("span", { class: `badge ${a.status}` }, `● ${f.STATUS[a.status]}`)),
      h("dt", { text: "Oppmøtested:" }),
      h("dd", { text: a.location?.name || "" }),
      a.timebook?.name ? [h("dt", { text: "Timebok:" }), h("dd", { text: a.timebook.name })] : null,
      h("dt", { text: "Telefon:" }),
      h("dd", { text: phone(a.phone) }),
      a.created_at ? [h("dt", { text: "Sendt:" }), h("dd", { text: f.stamp(a.created_at) })] : null,
      a.booked_by && a.booked_by.name !== a.for?.name ? [h("dt", { text: "Bestilt av:" }), h("dd", { text: a.booked_by.name })] : null,
    ),
    h(
      "dl",
      { class: "stacked" },
      (a.answers || []).flatMap((x) => [h("dt", { text: x.question }), h("dd", { text: x.answer })]),
      a.description ? [h("dt", { text: "Beskrivelse" }), h("dd", { text: a.description })] : null,
    ),
    h(
      "div",
      { class: "actions" },
      a.status === "requested"
        ? [
            h("button", { type: "button", onclick: () => act(`/admin/appointments/${encodeURIComponent(a.id)}/confirm`, {}, `Timen til ${a.for?.name} er bekreftet.`) }, `Bekreft timen til ${a.for?.name}`),
            h(
              "button",
              {
                type: "button",
                class: "secondary",
                onclick: async () => {
                  const reason = await reasonDialog(`Avslå forespørselen fra ${a.for?.name}?`, "Avslå");
                  if (reason) await act(`/admin/appointments/${encodeURIComponent(a.id)}/reject`, { reason }, "Forespørselen er avslått.");
                },
              },
              "Avslå …",
            ),
          ]
        : null,
      h(
        "button",
        {
          type: "button",
          class: "danger",
          onclick: async () => {
            const reason = await reasonDialog(`Avbestille timen til ${a.for?.name}?`, "Avbestill timen");
            if (reason) await act(`/admin/appointments/${encodeURIComponent(a.id)}/cancel`, { reason }, "Timen er avbestilt.");
          },
        },
        "Avbestill …",
      ),
    ),
  );
}

function slotState(r) {
  const free = Math.max(0, r.capacity - r.booked - r.held);
  if (r.closed) return { cls: "closed", label: "Stengt", free };
  if (free === 0) return { cls: "full", label: "Fullt", free };
  return { cls: "", label: "", free };
}

function overviewTable(rows, date, timebookId) {
  if (!rows.length) return notice("Ingen timer denne dagen.");
  return h(
    "div",
    { class: "table-wrap", tabindex: "0", role: "region", "aria-label": `Ressursoversikt ${f.dayMonth(date)}` },
    h(
      "table",
      { class: "overview stack" },
      h("caption", { class: "visually-hidden", text: `Ressursoversikt ${f.dayMonth(date)}` }),
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          ["Tid", "Kapasitet", "Booket", "Holdt av", "Ledig"].map((t, i) => h("th", { scope: "col", class: i ? "num" : "", text: t })),
          h("th", { scope: "col", text: "Hvem" }),
          h("th", { scope: "col", text: "Endre" }),
        ),
      ),
      h(
        "tbody",
        {},
        rows.map((r) => {
          const state = slotState(r);
          return h(
            "tr",
            { class: state.cls },
            h("th", { scope: "row", "data-label": "Tid" }, f.span(r.start, r.end), state.label ? h("span", { class: `tag ${state.cls}`, text: state.label }) : null),
            h("td", { class: "num", "data-label": "Kapasitet", text: r.capacity }),
            h("td", { class: "num", "data-label": "Booket", text: r.booked }),
            h("td", { class: "num", "data-label": "Holdt av", text: r.held }),
            h("td", { class: "num", "data-label": "Ledig", text: state.free }),
            h("td", { "data-label": "Hvem" }, (r.appointments || []).map((a) => h("div", { text: `${a.for?.name || ""} (${f.STATUS[a.status] || a.status})` }))),
            h(
              "td",
              { "data-label": "Endre" },
              h("button", { type: "button", class: "secondary small", onclick: () => slotDialog(r, timebookId) }, `Endre ${f.time(r.start)}`),
            ),
          );
        }),
      ),
    ),
  );
}

async function myTimebooks() {
  const orgs = new Set(auth.claims()?.orgs || []);
  const contacts = (await listAll("/health-contacts")).filter((c) => orgs.has(c.her_id));
  const groups = [];
  for (const contact of contacts) {
    groups.push({ contact, books: await listAll(`/health-contacts/${encodeURIComponent(contact.id)}/timebooks`) });
  }
  return groups;
}

const VIEWS = [
  ["foresporsler", "Forespørsler"],
  ["dag", "Dagen"],
  ["kapasitet", "Kapasitet og stenging"],
  ["venteliste", "Venteliste"],
  ["innstillinger", "Venterom og bølger"],
  ["logg", "Logg"],
];

export function viewLink(view, extra = {}) {
  const q = params();
  const next = new URLSearchParams();
  for (const key of ["timebok", "sted", "dato"]) if (q.get(key)) next.set(key, q.get(key));
  next.set("vis", view);
  for (const [k, v] of Object.entries(extra)) next.set(k, v);
  return `#?${next}`;
}

function viewNav(current) {
  return h(
    "nav",
    { class: "views", "aria-label": "Visninger" },
    h("ul", {}, VIEWS.map(([view, label]) => h("li", {}, h("a", { href: viewLink(view), "aria-current": view === current ? "page" : null, text: label })))),
  );
}

function picker(groups, timebookId, tb, locationId, date, view) {
  const tbId = uid("tb");
  const dateId = uid("date");
  const placeId = uid("place");
  const form = h(
    "form",
    { class: "picker" },
    h("input", { type: "hidden", name: "vis", value: view === "foresporsler" ? "dag" : view }),
    h(
      "div",
      { class: "field" },
      h("label", { for: tbId, text: "Timebok" }),
      h("select", { id: tbId, name: "timebok" }, groups.map((g) => h("optgroup", { label: g.contact.name }, g.books.map((b) => h("option", { value: b.id, selected: b.id === timebookId, text: b.name }))))),
    ),
    tb.locations.length > 1
      ? h("div", { class: "field" }, h("label", { for: placeId, text: "Oppmøtested" }), h("select", { id: placeId, name: "sted" }, tb.locations.map((l) => h("option", { value: l.id, selected: l.id === locationId, text: l.name }))))
      : null,
    h("div", { class: "field" }, h("label", { for: dateId, text: "Dato" }), h("input", { type: "date", id: dateId, name: "dato", value: date })),
    h("div", { class: "actions" }, h("button", { type: "submit", text: "Vis" })),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const next = new URLSearchParams(new FormData(form));
    if (next.get("timebok") !== timebookId) next.delete("sted");
    location.hash = `?${next}`;
  });
  return form;
}

async function confirmSelected(form) {
  const ids = [...form.querySelectorAll("input[name=valgt]:checked")].map((c) => c.value);
  if (!ids.length) {
    showAlert("Velg minst én forespørsel.");
    return;
  }
  const names = Object.fromEntries([...form.querySelectorAll("li[data-id]")].map((li) => [li.dataset.id, li.querySelector("h3")?.textContent || li.dataset.id]));
  try {
    const answer = await api("/admin/appointments/confirm", { method: "POST", body: { ids } });
    const ok = answer.results.filter((r) => !r.error);
    const failed = answer.results.filter((r) => r.error);
    const text = failed.length
      ? `${ok.length} av ${answer.results.length} bekreftet. ${failed.length} kunne ikke bekreftes:`
      : `${ok.length} ${ok.length === 1 ? "forespørsel" : "forespørsler"} bekreftet.`;
    const list = h(
      "ul",
      { class: "results" },
      answer.results.map((r) => h("li", { class: r.error ? "bad" : "ok", text: `${names[r.id] || r.id}: ${r.error ? errorText(new ApiError(409, r.error)) : "Bekreftet"}` })),
    );
    announce(text);
    showResult(text, failed.length ? "bad" : "ok", list);
    await show();
  } catch (error) {
    showAlert(errorText(error));
  }
}

async function requestsView() {
  const requests = await listAll("/admin/requests");
  if (!requests.length) return [h("h2", { text: "Forespørsler som venter (0)" }), notice("Ingen forespørsler venter. Bra jobbet!")];
  const form = h(
    "form",
    { class: "bulk", id: "bulk" },
    h(
      "div",
      { class: "actions" },
      h("button", { type: "button", class: "secondary", onclick: () => form.querySelectorAll("input[name=valgt]").forEach((c) => (c.checked = true)) }, "Velg alle"),
      h("button", { type: "submit" }, "Bekreft valgte"),
    ),
    h("ul", { class: "cards", id: "all-requests" }, requests.map((a) => requestCard(a, { selectable: true }))),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    confirmSelected(form);
  });
  return [
    h("h2", { text: `Forespørsler som venter (${requests.length})` }),
    h("p", { class: "hint", text: "I alle dine timebøker, den eldste først." }),
    form,
  ];
}

async function dayView(timebookId, tb, locationId, date) {
  const where = locationId ? `&location=${encodeURIComponent(locationId)}` : "";
  const [overview, requests, booked] = await Promise.all([
    listAll(`/admin/timebooks/${encodeURIComponent(timebookId)}/overview?date=${date}${where}`),
    listAll(`/admin/appointments?timebook_id=${encodeURIComponent(timebookId)}&status=requested`),
    listAll(`/admin/appointments?timebook_id=${encodeURIComponent(timebookId)}&status=booked&date=${date}`),
  ]);
  requests.sort((a, b) => a.start.localeCompare(b.start));
  booked.sort((a, b) => a.start.localeCompare(b.start));
  const location = tb.locations.find((l) => l.id === locationId);
  return [
    h("div", { class: "resource" }, h("strong", { text: tb.resource.name }), h("p", { text: `${tb.name} · ${f.longDay(date)}` })),
    h("h2", { text: `Timer ${f.dayMonth(date)}` }),
    overviewTable(overview, date, timebookId),
    await dayList(timebookId, tb, locationId, location, date),
    h("h2", { text: `Forespørsler som venter (${requests.length})` }),
    requests.length ? h("ul", { class: "cards", id: "requests" }, requests.map((a) => requestCard(a))) : notice("Ingen forespørsler venter."),
    h("h2", { text: `Tildelte timer ${f.dayMonth(date)} (${booked.length})` }),
    booked.length ? h("ul", { class: "cards", id: "booked" }, booked.map((a) => requestCard(a))) : notice("Ingen tildelte timer denne dagen."),
  ];
}

const ACTIONS = {
  appointment_confirm: "Bekreftet time",
  appointment_reject: "Avslo forespørsel",
  appointment_cancel: "Avbestilte time",
  appointment_arrive: "Registrerte møtt",
  appointment_noshow: "Registrerte ikke møtt",
  closure: "Stengte",
  slot_changed: "Endret tid",
  schedule_added: "La inn åpningstider",
  location_added: "La til oppmøtested",
  timebook_created: "Opprettet timeboken",
  timebook_changed: "Endret innstillingene",
};

async function waitlistView(timebookId, tb) {
  const rows = await listAll(`/admin/timebooks/${encodeURIComponent(timebookId)}/waitlist`);
  const offers = rows.filter((r) => r.offer);
  const place = (id) => tb.locations.find((l) => l.id === id)?.name || "Alle steder";
  return [
    h("h2", { text: `Venteliste: ${rows.length} venter, ${offers.length} med tilbud` }),
    rows.length
      ? h(
          "div",
          { class: "table-wrap", tabindex: "0", role: "region", "aria-label": "Venteliste" },
          h(
            "table",
            { class: "waitlist stack" },
            h("caption", { class: "visually-hidden", text: "Venteliste i rekkefølge" }),
            h("thead", {}, h("tr", {}, ["Nr.", "Person", "Sted", "Status", "Tilbud utløper"].map((t) => h("th", { scope: "col", text: t })))),
            h(
              "tbody",
              {},
              rows.map((r) =>
                h(
                  "tr",
                  {},
                  h("td", { "data-label": "Nr.", text: r.position }),
                  h("td", { "data-label": "Person", text: `${r.person} (født ${birthDate(r.birth_date)})` }),
                  h("td", { "data-label": "Sted", text: place(r.location_id) }),
                  h("td", { "data-label": "Status", text: r.offer ? `Tilbud: ${f.shortWhen(r.offer.start)}` : "Venter" }),
                  h("td", { "data-label": "Tilbud utløper", text: r.offer ? f.stamp(r.offer.expires_at) : "" }),
                ),
              ),
            ),
          ),
        )
      : notice("Ingen venter på ventelisten."),
  ];
}

async function auditView(timebookId, cursor) {
  const path = `/admin/timebooks/${encodeURIComponent(timebookId)}/audit?limit=20${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`;
  const page = await api(path);
  const rows = page.items || [];
  return [
    h("h2", { text: "Logg: hvem gjorde hva, og når" }),
    rows.length
      ? h(
          "div",
          { class: "table-wrap", tabindex: "0", role: "region", "aria-label": "Logg" },
          h(
            "table",
            { class: "audit stack" },
            h("caption", { class: "visually-hidden", text: "Logg, nyeste først" }),
            h("thead", {}, h("tr", {}, ["Når", "Hvem", "Hva", "Gjelder"].map((t) => h("th", { scope: "col", text: t })))),
            h(
              "tbody",
              {},
              rows.map((r) =>
                h(
                  "tr",
                  {},
                  h("td", { "data-label": "Når", text: f.stamp(r.at) }),
                  h("td", { "data-label": "Hvem", text: r.detail?.actor_name || `Ansatt ${String(r.actor)}` }),
                  h("td", { "data-label": "Hva", text: ACTIONS[r.action] || r.action }),
                  h("td", { "data-label": "Gjelder", text: r.target }),
                ),
              ),
            ),
          ),
        )
      : notice("Ingenting i loggen ennå."),
    page.next_cursor ? h("p", {}, h("a", { href: viewLink("logg", { fra: page.next_cursor }), text: "Eldre hendelser" })) : null,
    cursor ? h("p", {}, h("a", { href: viewLink("logg"), text: "Til de nyeste" })) : null,
  ];
}

// Views are drawn one at a time and only the last asked is drawn: an action's redraw that
// answers late must not paint over the view the reader has moved on to.
let asked = 0;
let drawing = Promise.resolve();

export function show() {
  const mine = ++asked;
  busy(true); // progress at once; the last render ends it
  drawing = drawing
    .catch(() => null)
    .then(() => (mine === asked ? draw(mine) : null))
    .catch((error) => {
      if (mine === asked) busy(false); // the caller says what failed
      throw error;
    });
  return drawing;
}

async function draw(mine) {
  const c = auth.claims();
  header();
  if (!c || c.role !== "staff") {
    render(
      "Ressursoversikt",
      h("p", {}, "Logg inn som saksbehandler i kommunen for å se ressursoversikten. ", h("a", { href: "./#/logg-inn?neste=staff", text: "Logg inn" })),
    );
    return;
  }
  const groups = await myTimebooks();
  const all = groups.flatMap((g) => g.books);
  const q = params();
  const view = q.get("vis") || (q.get("timebok") ? "dag" : "foresporsler");
  const timebookId = q.get("timebok") || all[0]?.id;
  const date = q.get("dato") || f.todayInOslo();
  if (!timebookId) {
    render("Ressursoversikt", notice("Du administrerer ingen timebøker."));
    return;
  }
  const tb = await api(`/timebooks/${encodeURIComponent(timebookId)}`);
  const locationId = q.get("sted") || tb.locations[0]?.id || "";
  let body;
  if (view === "dag") body = await dayView(timebookId, tb, locationId, date);
  else if (view === "kapasitet") body = await capacityView(timebookId, tb, locationId, date);
  else if (view === "logg") body = await auditView(timebookId, q.get("fra"));
  else if (view === "venteliste") body = await waitlistView(timebookId, tb);
  else if (view === "innstillinger") body = await settingsView(timebookId);
  else body = await requestsView();
  if (mine !== asked) return; // asked again while fetching: the newer view draws, with the result
  const shown = result;
  result = null;
  const resultNode = shown ? focusedNotice(shown.text, shown.kind, ...(shown.more || [])) : null;
  if (resultNode) resultNode.id = "result";
  render(
    "Ressursoversikt",
    viewNav(view),
    resultNode,
    view === "foresporsler" ? null : picker(groups, timebookId, tb, locationId, date, view),
    body,
    view === "foresporsler" ? [h("h2", { text: "Se en dag" }), picker(groups, timebookId, tb, locationId, date, view)] : null,
  );
  if (resultNode) resultNode.focus();
}

window.addEventListener("hashchange", () => {
  announce(""); // a message of the last view does not follow to the next
  if (location.hash.startsWith("#?") || location.hash === "") show().catch((e) => showAlert(errorText(e)));
});
document.querySelector(".skip")?.addEventListener("click", (event) => {
  event.preventDefault();
  document.querySelector("main h1")?.focus();
});
show().catch((error) => showAlert(errorText(error)));
