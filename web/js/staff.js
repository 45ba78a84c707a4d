// Staff pages: «Ressursoversikt» for a day, requests to confirm or reject, cancellations.
import { api, ApiError, listAll } from "./api.js";
import * as auth from "./auth.js";
import * as f from "./format.js";
import { announce, h, notice, present, render, showAlert, uid } from "./ui.js";

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

function errorText(error) {
  const texts = {
    unauthorized: "Du må logge inn på nytt.",
    staff_only: "Denne siden er for ansatte i kommunen.",
    not_your_organisation: "Du administrerer ikke denne helsekontakten.",
    wrong_state: "Timen har allerede endret status. Oppdater siden.",
    slot_unavailable: "Timen er full, så forespørselen kan ikke bekreftes.",
    network: "Får ikke kontakt med tjenesten.",
  };
  return error instanceof ApiError ? texts[error.code] || error.message : "Noe gikk galt.";
}

// A reason is required to reject or cancel: asked for in a modal dialog.
function reasonDialog(title, action) {
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

async function act(path, body, done) {
  try {
    await api(path, { method: "POST", body });
    announce(done);
    await show();
  } catch (error) {
    showAlert(errorText(error));
  }
}

function requestCard(a) {
  return h(
    "li",
    {},
    h("h3", { text: `${f.shortWhen(a.start)}: ${a.for?.name || ""}` }),
    h(
      "dl",
      { class: "summary" },
      h("dt", { text: "Status:" }),
      h("dd", {}, h("span", { class: `badge ${a.status}` }, `● ${f.STATUS[a.status]}`)),
      h("dt", { text: "Oppmøtested:" }),
      h("dd", { text: a.location?.name || "" }),
      h("dt", { text: "Telefon:" }),
      h("dd", { text: a.phone }),
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

function overviewTable(rows, date) {
  if (!rows.length) return notice("Ingen timer denne dagen.");
  return h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      { class: "overview" },
      h("caption", { class: "visually-hidden", text: `Ressursoversikt ${f.dayMonth(date)}` }),
      h(
        "thead",
        {},
        h("tr", {}, ["Tid", "Kapasitet", "Booket", "Holdt av", "Ledig"].map((t, i) => h("th", { scope: "col", class: i ? "num" : "", text: t })), h("th", { scope: "col", text: "Hvem" })),
      ),
      h(
        "tbody",
        {},
        rows.map((r) =>
          h(
            "tr",
            {},
            h("th", { scope: "row", text: f.span(r.start, r.end) }),
            h("td", { class: "num", text: r.capacity }),
            h("td", { class: "num", text: r.booked }),
            h("td", { class: "num", text: r.held }),
            h("td", { class: "num", text: Math.max(0, r.capacity - r.booked - r.held) }),
            h("td", {}, (r.appointments || []).map((a) => h("div", { text: `${a.for?.name || ""} (${f.STATUS[a.status] || a.status})` }))),
          ),
        ),
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

async function show() {
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
  const timebookId = q.get("timebok") || all[0]?.id;
  const date = q.get("dato") || f.todayInOslo();
  if (!timebookId) {
    render("Ressursoversikt", notice("Du administrerer ingen timebøker."));
    return;
  }
  const tb = await api(`/timebooks/${encodeURIComponent(timebookId)}`);
  const locationId = q.get("sted") || tb.locations[0]?.id || "";

  const tbId = uid("tb");
  const dateId = uid("date");
  const placeId = uid("place");
  const picker = h(
    "form",
    { class: "picker" },
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
  picker.addEventListener("submit", (event) => {
    event.preventDefault();
    const next = new URLSearchParams(new FormData(picker));
    if (next.get("timebok") !== timebookId) next.delete("sted");
    location.hash = `?${next}`;
  });

  const where = locationId ? `&location=${encodeURIComponent(locationId)}` : "";
  const [overview, requests, booked] = await Promise.all([
    listAll(`/admin/timebooks/${encodeURIComponent(timebookId)}/overview?date=${date}${where}`),
    listAll(`/admin/appointments?timebook_id=${encodeURIComponent(timebookId)}&status=requested`),
    listAll(`/admin/appointments?timebook_id=${encodeURIComponent(timebookId)}&status=booked&date=${date}`),
  ]);
  requests.sort((a, b) => a.start.localeCompare(b.start));
  booked.sort((a, b) => a.start.localeCompare(b.start));
  const focusTarget = document.activeElement?.id;
  render(
    "Ressursoversikt",
    h("div", { class: "resource" }, h("strong", { text: tb.resource.name }), h("p", { text: `${tb.name} · ${f.longDay(date)}` })),
    picker,
    h("h2", { text: `Timer ${f.dayMonth(date)}` }),
    overviewTable(overview, date),
    h("h2", { text: `Forespørsler som venter (${requests.length})` }),
    requests.length ? h("ul", { class: "cards", id: "requests" }, requests.map(requestCard)) : notice("Ingen forespørsler venter."),
    h("h2", { text: `Tildelte timer ${f.dayMonth(date)} (${booked.length})` }),
    booked.length ? h("ul", { class: "cards", id: "booked" }, booked.map(requestCard)) : notice("Ingen tildelte timer denne dagen."),
  );
  void focusTarget;
}

window.addEventListener("hashchange", () => {
  if (location.hash.startsWith("#?") || location.hash === "") show().catch((e) => showAlert(errorText(e)));
});
document.querySelector(".skip")?.addEventListener("click", (event) => {
  event.preventDefault();
  document.querySelector("main h1")?.focus();
});
show().catch((error) => showAlert(errorText(error)));
