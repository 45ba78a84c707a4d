// Capacity in minutes: new opening hours (with a preview of the slots), a slot's capacity or
// closing, and closing a location or days (a preview of who is affected, then the progress).
import { api, ApiError } from "./api.js";
import * as f from "./format.js";
import { daysBetween, osloOffset, schedulePreview } from "./staff-format.js";
import { errorText, show, showResult } from "./staff.js";
import { h, showAlert, showFieldErrors, uid } from "./ui.js";

function field(label, control, hint = "") {
  const id = control.id || uid("fld");
  control.id = id;
  return h("div", { class: "field" }, h("label", { for: id, text: label }), hint ? h("p", { class: "hint", id: `${id}-hint`, text: hint }) : null, control);
}

const WEEKDAYS = ["man", "tir", "ons", "tor", "fre", "lør", "søn"];

function scheduleForm(timebookId, tb, locationId, date) {
  const form = h("form", { class: "schedule", novalidate: true });
  const location = h("select", { name: "location_id" }, tb.locations.map((l) => h("option", { value: l.id, selected: l.id === locationId, text: l.name })));
  const from = h("input", { type: "date", name: "from", value: date, required: true });
  const to = h("input", { type: "date", name: "to", value: date, required: true });
  const start = h("input", { type: "time", name: "start_time", value: "08:00", required: true });
  const end = h("input", { type: "time", name: "end_time", value: "12:00", required: true });
  const minutes = h("input", { type: "number", name: "slot_minutes", value: String(tb.slot_minutes || 15), min: "5", max: "240", inputmode: "numeric", required: true });
  const capacity = h("input", { type: "number", name: "capacity", value: "1", min: "1", max: "50", inputmode: "numeric", required: true });
  const days = h(
    "fieldset",
    { class: "weekdays" },
    h("legend", { text: "Ukedager" }),
    WEEKDAYS.map((d, i) => {
      const id = uid("wd");
      return h("span", { class: "check" }, h("input", { type: "checkbox", id, name: "weekdays", value: String(i + 1), checked: i < 5 }), h("label", { for: id, text: d }));
    }),
  );
  const preview = h("div", { class: "preview", id: uid("preview"), "aria-live": "polite" });
  const body = () => ({
    location_id: location.value,
    from: from.value,
    to: to.value,
    weekdays: [...form.querySelectorAll("input[name=weekdays]:checked")].map((c) => Number(c.value)),
    start_time: start.value,
    end_time: end.value,
    slot_minutes: Number(minutes.value),
    capacity: Number(capacity.value),
  });
  const update = () => {
    const p = schedulePreview(body());
    preview.replaceChildren(
      p.total
        ? h("p", {}, h("strong", { text: `${p.total} tider` }), ` (${p.perDay} per dag i ${p.days.length} ${p.days.length === 1 ? "dag" : "dager"}, ${p.total * Number(capacity.value || 0)} plasser): ${p.times.slice(0, 6).join(", ")}${p.times.length > 6 ? " …" : ""}`)
        : h("p", { text: "Ingen tider med disse valgene." }),
    );
  };
  form.addEventListener("input", update);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const sent = body();
    if (!schedulePreview(sent).total) {
      showFieldErrors(form, [{ target: from, message: "Velg dager og tider som gir minst én time." }]);
      return;
    }
    try {
      const made = await api(`/admin/timebooks/${encodeURIComponent(timebookId)}/schedules`, { method: "POST", body: sent });
      showResult(`${made.created} nye tider er lagt inn.`);
      await show();
    } catch (error) {
      if (error instanceof ApiError && error.code === "overlap") {
        showFieldErrors(form, [{ target: from, message: `${errorText(error)} (${f.dayMonth(sent.from)}–${f.dayMonth(sent.to)}, ${sent.start_time}–${sent.end_time})` }]);
      } else if (error instanceof ApiError && error.fields?.length) {
        showFieldErrors(form, error.fields.map((x) => ({ target: form.elements[x.field] || null, message: x.message })));
      } else showAlert(errorText(error));
    }
  });
  form.append(
    h("h2", { text: "Legg inn åpningstider" }),
    tb.locations.length > 1 ? field("Oppmøtested", location) : h("input", { type: "hidden", name: "location_id", value: location.value }),
    h("div", { class: "row" }, field("Fra dato", from), field("Til dato", to)),
    days,
    h("div", { class: "row" }, field("Åpner", start), field("Stenger", end)),
    h("div", { class: "row" }, field("Minutter per time", minutes), field("Plasser per time", capacity)),
    h("h3", { text: "Forhåndsvisning" }),
    preview,
    h("div", { class: "actions" }, h("button", { type: "submit", text: "Legg inn tidene" })),
  );
  update();
  return form;
}

// What the closure would do, from the back end: the same rule as the closure itself.
function closurePreview(timebookId, body) {
  return api(`/admin/timebooks/${encodeURIComponent(timebookId)}/closures/preview`, { method: "POST", body });
}

const count = (n, one, many) => `${n} ${n === 1 ? one : many}`;

function confirmDialog(title, lines, action) {
  return new Promise((resolve) => {
    const titleId = uid("dlg");
    const dialog = h(
      "dialog",
      { "aria-labelledby": titleId },
      h("h2", { id: titleId, text: title }),
      h("ul", {}, lines.map((t) => h("li", { text: t }))),
      h("form", { method: "dialog" }, h("div", { class: "actions" }, h("button", { value: "yes", class: "danger", text: action }), h("button", { value: "no", class: "secondary", text: "Avbryt" }))),
    );
    dialog.addEventListener("close", () => {
      dialog.remove();
      resolve(dialog.returnValue === "yes");
    });
    document.body.append(dialog);
    dialog.showModal();
  });
}

// A closure that goes on in the background: its progress from GET /admin/closures/{id} (which
// counts what is left; the POST's own answer does not) until complete.
async function followClosure(answer) {
  const report = (c, left) => {
    const progress = document.getElementById("closure-progress");
    if (progress && !c.complete) progress.textContent = `Stenger i bakgrunnen … ${count(c.closed_slots, "tid", "tider")} stengt, ${count(c.cancelled, "time", "timer")} avlyst${left}.`;
  };
  let current = answer;
  report(current, " så langt");
  for (let i = 0; i < 120 && !current.complete; i += 1) {
    if (i) await new Promise((r) => setTimeout(r, 2000));
    current = await api(`/admin/closures/${encodeURIComponent(answer.id)}`);
    report(current, `, ${current.remaining} igjen`);
  }
  return current;
}

function closureForm(timebookId, tb, locationId, date) {
  const form = h("form", { class: "closure", novalidate: true });
  const where = h("select", { name: "location_id" }, h("option", { value: "", text: "Alle oppmøtesteder" }), tb.locations.map((l) => h("option", { value: l.id, selected: l.id === locationId && tb.locations.length === 1, text: l.name })));
  const from = h("input", { type: "date", name: "from", value: date, required: true });
  const to = h("input", { type: "date", name: "to", value: date, required: true });
  const reason = h("textarea", { name: "reason", rows: "3", maxlength: "1000", required: true });
  const progress = h("p", { id: "closure-progress", role: "status" });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const errors = [];
    if (!reason.value.trim()) errors.push({ target: reason, message: "Skriv en begrunnelse." });
    if (!from.value || !to.value || to.value < from.value) errors.push({ target: to, message: "Til-datoen kan ikke være før fra-datoen." });
    if (daysBetween(from.value || "x", to.value || "x", 15).length > 14) errors.push({ target: to, message: "Steng høyst 14 dager om gangen." });
    showFieldErrors(form, errors);
    if (errors.length) return;
    try {
      const body = {
        from: `${from.value}T00:00:00${osloOffset(from.value, "00:00")}`,
        to: `${daysBetween(to.value, "9999-12-31", 2)[1]}T00:00:00${osloOffset(to.value, "23:00")}`,
        reason: reason.value.trim(),
      };
      if (where.value) body.location_id = where.value;
      const preview = await closurePreview(timebookId, body);
      const place = where.value ? tb.locations.find((l) => l.id === where.value)?.name : "alle oppmøtesteder";
      const ok = await confirmDialog(
        `Stenge ${place} ${f.dayMonth(from.value)}${to.value !== from.value ? `–${f.dayMonth(to.value)}` : ""}?`,
        [
          `${count(preview.closed_slots, "tid", "tider")} stenges.`,
          `${count(preview.cancelled, "time", "timer")} avlyses.`,
          `${preview.notified} på ventelisten får beskjed.`,
          `I alt får ${count(preview.people, "person", "personer")} beskjed med begrunnelsen.`,
        ],
        "Steng",
      );
      if (!ok) return;
      const first = await api(`/admin/timebooks/${encodeURIComponent(timebookId)}/closures`, { method: "POST", body });
      const done = await followClosure(first);
      const text = done.complete
        ? `Stengt: ${count(done.closed_slots, "tid", "tider")} stengt, ${count(done.cancelled, "time", "timer")} avlyst, ${done.notified} på ventelisten varslet.`
        : `Stengingen fortsetter i bakgrunnen: ${done.closed_slots} tider stengt og ${done.cancelled} timer avlyst så langt.`;
      showResult(text, done.complete ? "ok" : "");
      await show();
    } catch (error) {
      showAlert(errorText(error));
    }
  });
  form.append(
    h("h2", { text: "Steng et oppmøtested eller dager" }),
    h("p", { class: "hint", text: "Timene i perioden avlyses, og innbyggerne får beskjed med begrunnelsen." }),
    field("Oppmøtested", where),
    h("div", { class: "row" }, field("Fra dato", from), field("Til og med dato", to)),
    field("Begrunnelse (vises for innbyggerne)", reason),
    progress,
    h("div", { class: "actions" }, h("button", { type: "submit", class: "danger", text: "Se hvem som berøres …" })),
  );
  return form;
}

export async function capacityView(timebookId, tb, locationId, date) {
  return [scheduleForm(timebookId, tb, locationId, date), closureForm(timebookId, tb, locationId, date)];
}

// A slot's capacity, or closing it, from «Ressursoversikt».
export function slotDialog(row, timebookId) {
  void timebookId;
  const titleId = uid("dlg");
  const capId = uid("cap");
  const closedId = uid("closed");
  const capacity = h("input", { type: "number", id: capId, name: "capacity", min: "1", max: "50", value: String(row.capacity), inputmode: "numeric" });
  const closed = h("input", { type: "checkbox", id: closedId, name: "closed", checked: !!row.closed });
  const error = h("p", { class: "field-error", role: "alert" });
  const dialog = h(
    "dialog",
    { "aria-labelledby": titleId },
    h("h2", { id: titleId, text: `Endre ${f.span(row.start, row.end)}` }),
    h(
      "form",
      { method: "dialog", novalidate: true },
      h("div", { class: "field" }, h("label", { for: capId, text: "Plasser" }), h("p", { class: "hint", text: `${row.booked} booket, ${row.held} holdt av nå.` }), capacity, error),
      h("div", { class: "check" }, closed, h("label", { for: closedId, text: "Stengt (tar ikke imot nye bestillinger)" })),
      h("div", { class: "actions" }, h("button", { value: "yes", text: "Lagre" }), h("button", { value: "no", class: "secondary", formnovalidate: true, text: "Avbryt" })),
    ),
  );
  dialog.querySelector("form").addEventListener("submit", async (event) => {
    if (event.submitter?.value !== "yes") return;
    event.preventDefault();
    const body = {};
    if (Number(capacity.value) !== row.capacity) body.capacity = Number(capacity.value);
    if (closed.checked !== !!row.closed) body.closed = closed.checked;
    try {
      const slot = await api(`/admin/slots/${encodeURIComponent(row.slot_id)}`, { method: "PATCH", body });
      dialog.close("no");
      showResult(`${f.span(slot.start, slot.end)}: ${slot.closed ? "stengt" : `${slot.capacity} plasser, ${slot.free} ledige`}.`);
      await show();
    } catch (e) {
      error.textContent =
        e instanceof ApiError && e.code === "capacity_below_taken" ? `${errorText(e)} ${row.booked + row.held} plasser er tatt nå.` : errorText(e);
      capacity.setAttribute("aria-invalid", "true");
      capacity.focus();
    }
  });
  dialog.addEventListener("close", () => dialog.remove());
  document.body.append(dialog);
  dialog.showModal();
}
