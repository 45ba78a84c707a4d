// A timebook's waiting room and waves (issue 20): staff turn the room on or off, set how many it
// lets in a minute, and edit the waves by date of birth (PATCH /admin/timebooks/{id}). The change
// names the version the form was filled from: someone else's change since is refused (409
// timebook_changed) and the form is filled again from what now applies.
import { api, ApiError } from "./api.js";
import { loadLanguage, t } from "./i18n.js";
import { osloOffset } from "./staff-format.js";
import { errorText, show, showResult } from "./staff.js";
import { h, showAlert, showFieldErrors, uid } from "./ui.js";

// The last answer of a change per timebook: a cache on the way may still hold the older timebook.
const latest = new Map();

function field(label, control, hint = "") {
  control.id = control.id || uid("fld");
  const hintNode = hint ? h("p", { class: "hint", id: `${control.id}-hint`, text: hint }) : null;
  if (hintNode) control.setAttribute("aria-describedby", hintNode.id);
  return h("div", { class: "field" }, h("label", { for: control.id, text: label }), hintNode, control);
}

// «2030-03-01T08:00:00+01:00» as a datetime-local value: the API gives Oslo's own time.
const localValue = (iso) => (iso ? iso.slice(0, 16) : "");
const withOffset = (value) => (value ? `${value}:00${osloOffset(value.slice(0, 10), value.slice(11, 16))}` : "");

function waveRow(wave, index, onRemove) {
  const n = index + 1;
  const opens = h("input", { type: "datetime-local", name: `waves.${index}.opens_at`, value: localValue(wave.opens_at), required: true });
  const from = h("input", { type: "date", name: `waves.${index}.born_from`, value: wave.born_from || "" });
  const to = h("input", { type: "date", name: `waves.${index}.born_to`, value: wave.born_to || "" });
  // The wave's id goes back with it: its priority list stays with it wherever it now stands.
  return h(
    "fieldset",
    { class: "wave", "data-wave": String(index), "data-id": wave.id || "" },
    h("legend", { text: t("settings.wave", { n }) }),
    field(t("settings.opens_at"), opens),
    h("div", { class: "row" }, field(t("settings.born_from"), from), field(t("settings.born_to"), to)),
    h("div", { class: "actions" }, h("button", { type: "button", class: "secondary small", onclick: onRemove, text: t("settings.remove_wave", { n }) })),
  );
}

// A removed wave had a priority list: asked in a modal dialog, the wave kept unless staff say so.
function dropListsAsked() {
  return new Promise((resolve) => {
    const titleId = uid("dlg");
    const dialog = h(
      "dialog",
      { "aria-labelledby": titleId },
      h("h2", { id: titleId, text: t("settings.drop_lists_confirm") }),
      h("form", { method: "dialog" }, h("div", { class: "actions" }, h("button", { value: "yes", class: "danger", text: t("settings.drop_lists_yes") }), h("button", { value: "no", class: "secondary", text: t("settings.drop_lists_no") }))),
    );
    dialog.addEventListener("close", () => {
      dialog.remove();
      resolve(dialog.returnValue === "yes");
    });
    document.body.append(dialog);
    dialog.showModal();
  });
}

function settingsForm(tb) {
  const form = h("form", { class: "settings", novalidate: true });
  const room = tb.waiting_room || { enabled: false, admit_per_minute: 60 };
  const enabled = h("input", { type: "checkbox", id: uid("room"), name: "waiting_room.enabled", checked: room.enabled });
  const rate = h("input", { type: "number", name: "waiting_room.admit_per_minute", value: String(room.admit_per_minute), min: "1", max: "100000", inputmode: "numeric", required: true });
  let waves = (tb.waves || []).map((w) => ({ ...w }));
  const list = h("div", { class: "waves" });
  const read = () =>
    [...list.querySelectorAll("fieldset.wave")].map((row) => ({
      ...(row.dataset.id ? { id: row.dataset.id } : {}), // none: a new wave
      opens_at: row.querySelector("input[type=datetime-local]").value,
      born_from: row.querySelectorAll("input[type=date]")[0].value || null, // none: a priority list only
      born_to: row.querySelectorAll("input[type=date]")[1].value || null,
    }));
  const draw = () => {
    list.replaceChildren(
      ...(waves.length
        ? waves.map((w, i) =>
            waveRow(w, i, () => {
              waves = read().map((x) => ({ ...x, opens_at: x.opens_at ? withOffset(x.opens_at) : "" }));
              waves.splice(i, 1);
              draw();
              (list.querySelector("button") || add).focus();
            }),
          )
        : [h("p", { class: "hint", text: t("settings.no_waves") })]),
    );
  };
  const add = h("button", {
    type: "button",
    class: "secondary",
    text: t("settings.add_wave"),
    onclick: () => {
      waves = read().map((x) => ({ ...x, opens_at: x.opens_at ? withOffset(x.opens_at) : "" }));
      waves.push({ opens_at: "", born_from: "", born_to: "" });
      draw();
      list.querySelector("fieldset.wave:last-of-type input")?.focus();
    },
  });
  draw();
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const missing = [...form.querySelectorAll("input[required]")].filter((i) => !i.value);
    if (missing.length) {
      showFieldErrors(form, missing.map((target) => ({ target, message: t("settings.required") })), t("settings.fix"));
      return;
    }
    const body = {
      version: tb.version || 0,
      waiting_room: { enabled: enabled.checked, admit_per_minute: Number(rate.value) },
      waves: read().map((w) => ({ ...w, opens_at: withOffset(w.opens_at) })),
    };
    const path = `/admin/timebooks/${encodeURIComponent(tb.id)}`;
    try {
      let answer;
      try {
        answer = await api(path, { method: "PATCH", body });
      } catch (error) {
        // A removed wave had a priority list: its people lose their early time only if staff say so.
        if (!(error instanceof ApiError && error.code === "wave_has_list") || !(await dropListsAsked())) throw error;
        answer = await api(path, { method: "PATCH", body: { ...body, drop_lists: true } });
      }
      latest.set(tb.id, answer);
      showResult(t("settings.saved"));
      await show();
    } catch (error) {
      if (error instanceof ApiError && error.code === "wave_has_list") {
        showResult(t("settings.lists_kept"), "bad");
        await show(); // the form again as saved: the wave is still there
      } else if (error instanceof ApiError && error.code === "timebook_changed") {
        latest.delete(tb.id);
        showResult(t("settings.changed"), "bad");
        await show();
      } else if (error instanceof ApiError && error.fields?.length) {
        showFieldErrors(form, error.fields.map((x) => ({ target: form.elements[x.field] || null, message: x.message })), t("settings.fix"));
      } else showAlert(errorText(error));
    }
  });
  form.append(
    h("h2", { text: t("settings.title") }),
    h("p", { class: "hint", text: t("settings.lead") }),
    h(
      "fieldset",
      {},
      h("legend", { text: t("settings.room") }),
      h("div", { class: "check" }, enabled, h("label", { for: enabled.id, text: t("settings.room_enabled") })),
      field(t("settings.admit_per_minute"), rate),
    ),
    h("h3", { text: t("settings.waves") }),
    h("p", { class: "hint", text: t("settings.waves_hint") }),
    h("p", { class: "hint", text: t("settings.wave_born_hint") }),
    list,
    h("div", { class: "actions" }, add),
    h("div", { class: "actions" }, h("button", { type: "submit", text: t("settings.save") })),
  );
  return form;
}

// A CSV's or a pasted list's numbers: the first column, blank lines and a header line skipped;
// each kept with its line number, so the API's `pids.3` is told as «line 5».
function numbersOf(text) {
  const found = [];
  text.replace(/^\ufeff/, "").split(/\r?\n/).forEach((line, i) => {
    const first = line.split(/[,;\t]/)[0].trim().replace(/^"|"$/g, "").trim();
    if (first && !(i === 0 && !/\d/.test(first))) found.push({ pid: first, line: i + 1 });
  });
  return found;
}

const BATCH = 4000; // the API's most a request

// Staff put people on a saved wave's priority list (POST /admin/timebooks/{id}/waves/{n}/people).
function listForm(tb) {
  const form = h("form", { class: "wave-list", novalidate: true });
  const waves = tb.waves || [];
  if (!waves.length) return h("section", {}, h("h2", { text: t("settings.lists") }), h("p", { class: "hint", text: t("settings.no_saved_waves") }));
  const wave = h("select", { name: "wave" }, waves.map((w, i) => h("option", { value: w.id || String(i), text: `${t("settings.wave", { n: i + 1 })} (${w.opens_at.slice(0, 16).replace("T", " ")})` })));
  const numbers = h("textarea", { name: "pids", rows: "5", autocomplete: "off", spellcheck: "false" });
  const file = h("input", { type: "file", accept: ".csv,.txt,text/csv,text/plain" });
  file.addEventListener("change", async () => {
    const chosen = file.files?.[0];
    if (chosen) numbers.value = await chosen.text();
  });
  const status = h("p", { class: "hint", role: "status" });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    showFieldErrors(form, []);
    const found = numbersOf(numbers.value);
    if (!found.length) {
      showFieldErrors(form, [{ target: numbers, message: t("settings.list_empty") }], t("settings.fix"));
      return;
    }
    let added = 0;
    let n = wave.selectedIndex + 1;
    for (let start = 0; start < found.length; start += BATCH) {
      const part = found.slice(start, start + BATCH);
      try {
        const answer = await api(`/admin/timebooks/${encodeURIComponent(tb.id)}/waves/${encodeURIComponent(wave.value)}/people`, { method: "POST", body: { pids: part.map((x) => x.pid) } });
        added += answer.added;
        n = answer.wave + 1; // where the wave stands now (by id, whatever was saved meanwhile)
      } catch (error) {
        if (error instanceof ApiError && error.fields?.length) {
          const lines = error.fields.map((x) => part[Number(String(x.field).split(".")[1])]?.line).filter(Boolean);
          showFieldErrors(form, lines.map((line) => ({ target: numbers, message: t("settings.list_bad_line", { line }) })), t("settings.fix"));
        } else showAlert(errorText(error));
        if (added) status.textContent = t("settings.list_added", { count: added, n });
        return;
      }
    }
    numbers.value = "";
    status.textContent = t("settings.list_added", { count: added, n });
  });
  form.append(
    h("h2", { text: t("settings.lists") }),
    h("p", { class: "hint", text: t("settings.lists_hint") }),
    field(t("settings.list_wave"), wave),
    field(t("settings.list_numbers"), numbers),
    field(t("settings.list_file"), file),
    h("div", { class: "actions" }, h("button", { type: "submit", text: t("settings.list_send") })),
    status,
  );
  return form;
}

// The view: the timebook read past the browser's cache (a change must start from what applies).
export async function settingsView(timebookId) {
  await loadLanguage();
  const read = await api(`/timebooks/${encodeURIComponent(timebookId)}`, { cache: "no-cache" });
  const mine = latest.get(timebookId);
  const tb = mine && mine.version > (read.version || 0) ? mine : read;
  return [settingsForm(tb), listForm(tb)];
}
