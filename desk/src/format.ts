// Times and durations as people read them, in the desk's language.
import { signal } from "@preact/signals";
import { locale, t } from "./i18n";

/** The clock every countdown reads; ticks once a second. */
export const now = signal(Date.now());
setInterval(() => (now.value = Date.now()), 1000);

/** `2h 05m`, `4m 09s`, `12s` (or their Chinese forms). */
export function duration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  const pad = (n: number) => String(n).padStart(2, "0");
  if (d > 0) return `${t("days_short", { n: d })} ${t("hours_short", { n: h })}`;
  if (h > 0) return `${t("hours_short", { n: h })} ${t("minutes_short", { n: pad(m) })}`;
  if (m > 0) return `${t("minutes_short", { n: m })} ${t("seconds_short", { n: pad(sec) })}`;
  return t("seconds_short", { n: sec });
}

/** `18:42` today, else `12/05 18:42`. */
export function clockTime(ms: number): string {
  const d = new Date(ms);
  const today = new Date(now.value);
  const sameDay = d.toDateString() === today.toDateString();
  return new Intl.DateTimeFormat(locale(), {
    ...(sameDay ? {} : { month: "2-digit", day: "2-digit" }),
    hour: "2-digit",
    minute: "2-digit",
    hour12: false,
  }).format(d);
}

export function dateTime(ms: number): string {
  return new Intl.DateTimeFormat(locale(), {
    year: "numeric",
    month: "2-digit",
    day: "2-digit",
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
    hour12: false,
  }).format(new Date(ms));
}

/** `le_10m` → `≤ 10m`; null → `–`. */
export function bucket(b: string | null | undefined): string {
  if (!b) return "–";
  return b.startsWith("le_") ? t("le_bucket", { b: b.slice(3) }) : b;
}

/** The date `d` falls on in the browser's time zone, `YYYY-MM-DD`. */
export function day(d: Date): string {
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}
