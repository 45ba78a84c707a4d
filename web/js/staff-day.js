// The station's day list: who comes when, «Møtt» / «Ikke møtt» on the day, printable, as CSV.
import { api, ApiError, listAll } from "./api.js";
import * as f from "./format.js";
import { birthDate } from "./staff-format.js";
import { act, errorText } from "./staff.js";
import { announce, h, notice, showAlert } from "./ui.js";

async function downloadCsv(timebookId, locationId, date) {
  const where = locationId ? `&location=${encodeURIComponent(locationId)}` : "";
  try {
    const response = await api(`/admin/timebooks/${encodeURIComponent(timebookId)}/daylist?date=${date}${where}`, { headers: { Accept: "text/csv" }, raw: true });
    const blob = new Blob([await response.arrayBuffer()], { type: "text/csv;charset=utf-8" });
    const link = h("a", { href: URL.createObjectURL(blob), download: `dagsliste-${date}.csv`, hidden: true });
    document.body.append(link);
    link.click();
    link.remove();
    announce("Dagslisten er lastet ned.");
  } catch (error) {
    showAlert(error instanceof ApiError ? errorText(error) : "Kunne ikke laste ned dagslisten.");
  }
}

export async function dayList(timebookId, tb, locationId, location, date) {
  const where = locationId ? `&location=${encodeURIComponent(locationId)}` : "";
  const rows = await listAll(`/admin/timebooks/${encodeURIComponent(timebookId)}/daylist?date=${date}${where}`);
  const today = date === f.todayInOslo();
  const title = `Dagsliste ${f.dayMonth(date)}${location ? `, ${location.name}` : ""}`;
  const mark = (row, kind) => {
    const label = kind === "arrived" ? "møtt" : "ikke møtt";
    act(`/admin/appointments/${encodeURIComponent(row.appointment_id)}/${kind}`, {}, `${row.name} er registrert som ${label}.`);
  };
  return h(
    "section",
    { class: "daylist", "aria-labelledby": "daylist-title" },
    h("h2", { id: "daylist-title", text: `${title} (${rows.length})` }),
    h("p", { class: "print-only", text: `${tb.name} · ${f.longDay(date)}` }),
    h(
      "div",
      { class: "actions no-print" },
      h("button", { type: "button", class: "secondary", onclick: () => window.print() }, "Skriv ut dagslisten"),
      h("button", { type: "button", class: "secondary", onclick: () => downloadCsv(timebookId, locationId, date) }, "Last ned som CSV"),
    ),
    !today && rows.length ? h("p", { class: "hint no-print", text: "«Møtt» og «Ikke møtt» kan registreres på selve dagen." }) : null,
    rows.length
      ? h(
          "div",
          { class: "table-wrap", tabindex: "0", role: "region", "aria-label": title },
          h(
            "table",
            { class: "daylist-table stack" },
            h("caption", { class: "visually-hidden", text: title }),
            h("thead", {}, h("tr", {}, ["Tid", "Navn", "Fødselsdato", "Status"].map((t) => h("th", { scope: "col", text: t })), h("th", { scope: "col", class: "no-print", text: "Registrer" }))),
            h(
              "tbody",
              {},
              rows.map((row) =>
                h(
                  "tr",
                  { class: row.status },
                  h("td", { "data-label": "Tid", text: f.time(row.start) }),
                  h("th", { scope: "row", "data-label": "Navn", text: row.name }),
                  h("td", { "data-label": "Fødselsdato", text: birthDate(row.birth_date) }),
                  h("td", { "data-label": "Status" }, h("span", { class: `badge ${row.status}`, text: f.STATUS[row.status] || row.status })),
                  h(
                    "td",
                    { class: "no-print", "data-label": "Registrer" },
                    row.status === "booked" && today
                      ? [
                          h("button", { type: "button", class: "small", onclick: () => mark(row, "arrived") }, `Møtt: ${row.name}`),
                          h("button", { type: "button", class: "secondary small", onclick: () => mark(row, "noshow") }, `Ikke møtt: ${row.name}`),
                        ]
                      : null,
                  ),
                ),
              ),
            ),
          ),
        )
      : notice("Ingen timer på dagslisten."),
  );
}
