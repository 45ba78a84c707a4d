// Dates and times as a Norwegian reader expects them, always in Oslo time.
const ZONE = "Europe/Oslo";
const fmt = (options) => new Intl.DateTimeFormat("nb-NO", { timeZone: ZONE, ...options });

const TIME = fmt({ hour: "2-digit", minute: "2-digit" });
const LONG_DATE = fmt({ weekday: "long", day: "numeric", month: "long", year: "numeric" });
const SHORT_DATE = fmt({ day: "numeric", month: "short", year: "numeric" });
const DAY_MONTH = fmt({ day: "numeric", month: "long", year: "numeric" });
const MONTH = fmt({ month: "long", year: "numeric" });
const PARTS = fmt({ year: "numeric", month: "2-digit", day: "2-digit" });

const capital = (text) => text.charAt(0).toUpperCase() + text.slice(1);

export const time = (iso) => TIME.format(new Date(iso));
export const span = (start, end) => `${time(start)} - ${time(end)}`;
// «Fredag 1. mars 2024 kl. 10:00 - 10:15»
export const longWhen = (start, end) => `${capital(LONG_DATE.format(new Date(start)))} kl. ${span(start, end)}`;
// «5. okt. 2022, kl. 13:30»
export const shortWhen = (iso) => `${SHORT_DATE.format(new Date(iso))}, kl. ${time(iso)}`;
export const dayMonth = (isoDate) => DAY_MONTH.format(new Date(`${isoDate}T12:00:00Z`));
export const longDay = (isoDate) => LONG_DATE.format(new Date(`${isoDate}T12:00:00Z`));
export const monthName = (month) => capital(MONTH.format(new Date(`${month}-15T12:00:00Z`)));
export const stamp = (iso) => `${DAY_MONTH.format(new Date(iso))} kl. ${time(iso)}`;

// Today in Oslo as YYYY-MM-DD (not the browser's own zone).
export function todayInOslo(now = new Date()) {
  const parts = Object.fromEntries(PARTS.formatToParts(now).map((p) => [p.type, p.value]));
  return `${parts.year}-${parts.month}-${parts.day}`;
}

export function addMonths(month, count) {
  const [y, m] = month.split("-").map(Number);
  const index = y * 12 + (m - 1) + count;
  return `${Math.floor(index / 12)}-${String((index % 12) + 1).padStart(2, "0")}`;
}

export function duration(minutes) {
  if (minutes % 60 === 0) return minutes === 60 ? "1 time" : `${minutes / 60} timer`;
  if (minutes > 60) return `${Math.floor(minutes / 60)} t ${minutes % 60} min`;
  return `${minutes} min`;
}

export const STATUS = { requested: "Forespørsel", booked: "Tildelt", rejected: "Avslått", cancelled: "Avbestilt" };

// The server counts a description in Unicode code points after trimming (Python's len of the
// stripped string), so do the same: an emoji is one, not two as in JavaScript's .length.
export const serverLength = (text) => [...text.trim()].length;
