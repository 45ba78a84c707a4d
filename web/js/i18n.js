// The pages' words: one catalogue per language, i18n/{nb,nn,en}.json beside the pages (kept in
// chalicelib/i18n/ with the server's inbox and .ics texts, and served from there). The language comes
// from ?lang= on the portal's URL, else the reader's last choice, else bokmål. A missing key
// shows as ⟦key⟧ (and is logged), so the tests that render every step fail on it.
export const LANGUAGES = { nb: "Bokmål", nn: "Nynorsk", en: "English" };
const LOCALES = { nb: "nb-NO", nn: "nn-NO", en: "en-GB" };
const KEY = "timebok.lang";

let lang = "nb";
let words = {};

export function chooseLanguage(search = location.search) {
  const asked = new URLSearchParams(search).get("lang");
  if (asked && asked in LANGUAGES) {
    try {
      localStorage.setItem(KEY, asked);
    } catch {
      /* private mode: the URL still says it */
    }
    return asked;
  }
  let kept = null;
  try {
    kept = localStorage.getItem(KEY);
  } catch {
    /* no storage */
  }
  return kept && kept in LANGUAGES ? kept : "nb";
}

export async function loadLanguage() {
  lang = chooseLanguage();
  const response = await fetch(`i18n/${lang}.json`);
  words = await response.json();
  document.documentElement.lang = lang;
  return lang;
}

export const language = () => lang;
export const locale = () => LOCALES[lang];

export function t(key, vars = {}) {
  const text = words[key];
  if (typeof text !== "string") {
    console.error(`missing text: ${key}`);
    return `⟦${key}⟧`;
  }
  return text.replace(/\{(\w+)\}/g, (whole, name) => (name in vars ? String(vars[name]) : whole));
}

// Plurals the simple way all three languages share: key.one for 1, key.other otherwise.
export const tn = (key, count, vars = {}) => t(`${key}.${count === 1 ? "one" : "other"}`, { count, ...vars });

// Static text in the HTML: data-i18n (text), data-i18n-label (aria-label).
export function translateDocument(root = document) {
  root.querySelectorAll("[data-i18n]").forEach((node) => (node.textContent = t(node.dataset.i18n)));
  root.querySelectorAll("[data-i18n-label]").forEach((node) => node.setAttribute("aria-label", t(node.dataset.i18nLabel)));
}

// For pages made of numbered paragraphs (the legal pages): is there a next one?
export const hasText = (key) => typeof words[key] === "string";
