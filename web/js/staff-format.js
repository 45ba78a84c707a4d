// Staff pages' small formats: phone numbers as staff read them aloud, identity kept out of view.

// «912 34 567» for Norwegian mobiles, «22 12 34 56» for landlines; other countries as given.
export function phone(e164) {
  const text = String(e164 || "");
  const digits = text.replace(/^\+47/, "");
  if (text.startsWith("+47") && /^\d{8}$/.test(digits)) {
    return /^[49]/.test(digits)
      ? `${digits.slice(0, 3)} ${digits.slice(3, 5)} ${digits.slice(5)}`
      : `${digits.slice(0, 2)} ${digits.slice(2, 4)} ${digits.slice(4, 6)} ${digits.slice(6)}`;
  }
  return text;
}

// «06.12.1950» from 1950-12-06.
export const birthDate = (iso) => (iso ? `${iso.slice(8, 10)}.${iso.slice(5, 7)}.${iso.slice(0, 4)}` : "");

// Dates between from and to (inclusive), YYYY-MM-DD, at most `max`.
export function daysBetween(from, to, max = 31) {
  const out = [];
  const day = new Date(`${from}T12:00:00Z`);
  const end = new Date(`${to}T12:00:00Z`);
  while (day <= end && out.length < max) {
    out.push(day.toISOString().slice(0, 10));
    day.setUTCDate(day.getUTCDate() + 1);
  }
  return out;
}

// ISO weekday, 1 = Monday … 7 = Sunday, of a YYYY-MM-DD.
export const isoWeekday = (isoDate) => ((new Date(`${isoDate}T12:00:00Z`).getUTCDay() + 6) % 7) + 1;

// The Oslo offset of a local date and time, as the API wants it («+01:00» or «+02:00»).
export function osloOffset(isoDate, time = "12:00") {
  const probe = new Date(`${isoDate}T${time}:00Z`);
  const local = new Intl.DateTimeFormat("en-GB", { timeZone: "Europe/Oslo", hour: "2-digit", hourCycle: "h23" }).format(probe);
  const hours = (Number(local) - probe.getUTCHours() + 24) % 24;
  return `+0${hours}:00`;
}

// How many slots a schedule makes: days matching the weekdays × slots that fit in the opening hours.
export function schedulePreview({ from, to, weekdays, start_time: start, end_time: end, slot_minutes: minutes }) {
  if (!from || !to || !start || !end || !minutes || to < from) return { days: [], perDay: 0, total: 0, times: [] };
  const days = daysBetween(from, to, 400).filter((d) => weekdays.includes(isoWeekday(d)));
  const toMinutes = (t) => Number(t.slice(0, 2)) * 60 + Number(t.slice(3, 5));
  const times = [];
  for (let m = toMinutes(start); m + minutes <= toMinutes(end); m += minutes) {
    times.push(`${String(Math.floor(m / 60)).padStart(2, "0")}:${String(m % 60).padStart(2, "0")}`);
  }
  return { days, perDay: times.length, total: days.length * times.length, times };
}
