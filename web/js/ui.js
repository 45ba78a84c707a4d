// Small DOM helpers: elements are built with textContent only (never innerHTML of API data).

export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on") && typeof value === "function") node.addEventListener(key.slice(2), value);
    else if (value === true) node.setAttribute(key, "");
    else node.setAttribute(key, String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

// DOM's replaceChildren/append would write null as the text "null".
export const present = (nodes) => nodes.flat().filter((n) => n !== null && n !== undefined && n !== false);

let idCounter = 0;
export function uid(prefix = "f") {
  idCounter += 1;
  return `${prefix}-${idCounter}`;
}

const main = () => document.getElementById("main");

// One page at a time: the title says where you are, focus goes to the heading (screen readers
// hear the new page; keyboard users start from its top).
export function render(title, ...children) {
  const heading = h("h1", { tabindex: "-1", text: title });
  main().replaceChildren(heading, ...present(children));
  document.title = `${title} – Timebok`;
  clearAlert();
  busy(false);
  heading.focus();
  window.scrollTo(0, 0);
  return heading;
}

export function announce(message) {
  document.getElementById("status").textContent = message || "";
}

// An error is said where the reader is: the alert (with an optional link onwards) takes focus.
export function showAlert(message, ...more) {
  const alert = document.getElementById("alert");
  alert.replaceChildren(...present([message || "", ...more]));
  if (message) {
    alert.setAttribute("tabindex", "-1");
    alert.focus();
    alert.scrollIntoView({ block: "nearest" });
  }
}

// Progress at once on every view change or action (the old page dimmed, a bar, aria-busy);
// render() ends it.
export function busy(on) {
  const progress = document.getElementById("progress");
  if (progress) progress.hidden = !on;
  if (on) main().setAttribute("aria-busy", "true");
  else main().removeAttribute("aria-busy");
}

// A message that takes focus (after an action: cancelled, joined, left …).
export function focusedNotice(text, kind = "", ...more) {
  const node = h("div", { class: `notice ${kind}`.trim(), tabindex: "-1", role: kind === "bad" ? "alert" : "status" }, text, ...more);
  return node;
}

export function clearAlert() {
  showAlert("");
}

export function notice(text, kind = "") {
  return h("div", { class: `notice ${kind}`.trim() }, text);
}

export function radio(name, value, label, { checked = false, sub = "" } = {}) {
  const id = uid(name);
  return h(
    "div",
    { class: "radio" },
    h("input", { type: "radio", name, value, id, checked }),
    h("label", { for: id }, label, sub ? h("span", { class: "sub", text: sub }) : null),
  );
}

// Field errors next to their field and in a summary at the top, which takes focus.
export function showFieldErrors(form, errors, title = "Noe må rettes") {
  form.querySelectorAll(".field-error").forEach((n) => n.remove());
  form.querySelectorAll("[aria-invalid]").forEach((n) => n.removeAttribute("aria-invalid"));
  form.querySelector(".error-summary")?.remove();
  if (!errors.length) return;
  const list = h("ul");
  for (const { target, message } of errors) {
    const id = uid("err");
    const error = h("p", { class: "field-error", id, text: message });
    if (target) {
      const control = target.matches("input, textarea, select") ? target : target.querySelector("input, textarea, select");
      if (control) {
        control.setAttribute("aria-invalid", "true");
        const described = control.getAttribute("aria-describedby");
        control.setAttribute("aria-describedby", described ? `${described} ${id}` : id);
      }
      (target.closest(".field") || target).append(error);
      list.append(h("li", {}, h("a", { href: "#", onclick: (e) => { e.preventDefault(); control?.focus(); } }, message)));
    } else {
      list.append(h("li", { text: message }));
    }
  }
  const summary = h("div", { class: "error-summary", tabindex: "-1", role: "alert" }, h("h2", { text: title }), list);
  form.prepend(summary);
  summary.focus();
}
