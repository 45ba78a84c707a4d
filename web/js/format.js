// Dates and times as a reader of the page's language expects them, always in Oslo time (Intl).
// The staff pages use it as it starts: bokmål.
const ZONE = "Europe/Oslo";
const LOCALES = { nb: "nb-NO", nn: "nn-NO", en: "en-GB" };
// The few words around a date that Intl does not give: «kl.», hours and minutes.
const WORDS = {
  nb: { at: "kl.", hour: "1 time", hours: (n) => `${n} timer`, hm: (h, m) => `${h} t ${m} min`, min: (m) => `${m} min` },
  nn: { at: "kl.", hour: "1 time", hours: (n) => `${n} timar`, hm: (h, m) => `${h} t ${m} min`, min: (m) => `${m} min` },
  en: { at: "at", hour: "1 hour", hours: (n) => `${n} hours`, hm: (h, m) => `${h} h ${m} min`, min: (m) => `${m} min` },
};

let words = WORDS.nb;
let F = {};

// Chromium's ICU has no nynorsk data of its own and answers in bokmål; the weekdays differ
// (months are the same), so nynorsk's are put in when the browser gives bokmål's.
const NYNORSK_DAYS = [
  [/\bmandag/g, "måndag"], [/\btirsdag/g, "tysdag"], [/\blørdag/g, "laurdag"], [/\bsøndag/g, "sundag"],
  [/\bman\./g, "må."], [/\btir\./g, "ty."], [/\blør\./g, "lau."], [/\bsøn\./g, "su."],
];
const nynorsk = (formatter) => ({
  format: (date) => NYNORSK_DAYS.reduce((text, [nb, nn]) => text.replace(nb, nn), formatter.format(date)),
});

export function setLanguage(lang) {
  const locale = LOCALES[lang] || LOCALES.nb;
  words = WORDS[lang] || WORDS.nb;
  const fmt = (options) => new Intl.DateTimeFormat(locale, { timeZone: ZONE, ...options });
  const days = lang === "nn" ? nynorsk : (formatter) => formatter;
  F = {
    time: fmt({ hour: "2-digit", minute: "2-digit", hourCycle: "h23" }),
    longDate: days(fmt({ weekday: "long", day: "numeric", month: "long", year: "numeric" })),
    shortDate: fmt({ day: "numeric", month: "short", year: "numeric" }),
    dayMonth: fmt({ day: "numeric", month: "long", year: "numeric" }),
    month: fmt({ month: "long", year: "numeric" }),
    weekdayShort: days(fmt({ weekday: "short" })),
    weekdayLong: days(fmt({ weekday: "long" })),
    parts: new Intl.DateTimeFormat("en-CA", { timeZone: ZONE, year: "numeric", month: "2-digit", day: "2-digit" }),
  };
}
setLanguage("nb");

const capital = (text) => text.charAt(0).toUpperCase() + text.slice(1);
const noon = (isoDate) => new Date(`${isoDate}T12:00:00Z`);

export const time = (iso) => F.time.format(new Date(iso));
export const span = (start, end) => `${time(start)} - ${time(end)}`;
// «Fredag 1. mars 2024 kl. 10:00 - 10:15» (a line of its own, so a capital)
export const longWhen = (start, end) => `${capital(F.longDate.format(new Date(start)))} ${words.at} ${span(start, end)}`;
// «5. okt. 2022, kl. 13:30»
export const shortWhen = (iso) => `${F.shortDate.format(new Date(iso))}, ${words.at} ${time(iso)}`;
export const dayMonth = (isoDate) => F.dayMonth.format(noon(isoDate));
export const longDay = (isoDate) => F.longDate.format(noon(isoDate));
// Mid-sentence as the language writes it (nb/nn: «mars 2024»); monthTitle for a heading.
export const monthName = (month) => F.month.format(noon(`${month}-15`));
export const monthTitle = (month) => capital(monthName(month));
export const stamp = (iso) => `${F.dayMonth.format(new Date(iso))} ${words.at} ${time(iso)}`;
// Monday first: [[short, long], …] from a known Monday.
export const weekdays = () =>
  Array.from({ length: 7 }, (_, i) => noon(`2024-01-${String(i + 1).padStart(2, "0")}`)).map((d) => [
    capital(F.weekdayShort.format(d).replace(/\.$/, "")),
    F.weekdayLong.format(d),
  ]);

// Today in Oslo as YYYY-MM-DD (not the browser's own zone).
export function todayInOslo(now = new Date()) {
  const parts = Object.fromEntries(F.parts.formatToParts(now).map((p) => [p.type, p.value]));
  return `${parts.year}-${parts.month}-${parts.day}`;
}

export function addMonths(month, count) {
  const [y, m] = month.split("-").map(Number);
  const index = y * 12 + (m - 1) + count;
  return `${Math.floor(index / 12)}-${String((index % 12) + 1).padStart(2, "0")}`;
}

export function duration(minutes) {
  if (minutes % 60 === 0) return minutes === 60 ? words.hour : words.hours(minutes / 60);
  if (minutes > 60) return words.hm(Math.floor(minutes / 60), minutes % 60);
  return words.min(minutes);
}

// The staff pages' status names (bokmål); the portal takes its own from the catalogue.
export const STATUS = { requested: "Forespørsel", booked: "Tildelt", rejected: "Avslått", cancelled: "Avbestilt", arrived: "Møtt", noshow: "Ikke møtt" };

// The server counts a description in Unicode code points after trimming (Python's len of the
// stripped string), so do the same: an emoji is one, not two as in JavaScript's .length.
export const serverLength = (text) => [...text.trim()].length;
