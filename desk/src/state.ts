// What the whole desk shares: who is signed in and the inbox's scope, queue and filters.
import { computed, signal } from "@preact/signals";
import type { Me } from "./api";

export const me = signal<Me | null>(null);

export type Queue = "mine" | "unassigned" | "unanswered" | "escalated" | "open" | "resolved";
export const QUEUES: Queue[] = ["mine", "unassigned", "unanswered", "escalated", "open", "resolved"];

/** A team (`team:<name>`) or an account (`account:<channel:id>`) the inbox reads. */
export const scope = signal<string>(sessionStorage.getItem("desk.scope") ?? "");
export const queue = signal<Queue>((sessionStorage.getItem("desk.queue") as Queue) ?? "unanswered");
export const tagFilter = signal("");

export function setScope(s: string) {
  sessionStorage.setItem("desk.scope", s);
  scope.value = s;
}
export function setQueue(q: Queue) {
  sessionStorage.setItem("desk.queue", q);
  queue.value = q;
}

/** The scopes the signed-in person can pick: their teams, then their accounts. */
export const scopes = computed<string[]>(() => {
  const p = me.value?.profile;
  if (!p) return [];
  return [
    ...p.teams.map((t) => `team:${t}`),
    ...p.accounts.filter((a) => a !== "*").map((a) => `account:${a}`),
  ];
});

/** The scope in force: the chosen one if still offered, else the first offered. */
export const activeScope = computed(() =>
  scopes.value.includes(scope.value) ? scope.value : (scopes.value[0] ?? ""),
);

/** The query parameters naming the scope. */
export function scopeQuery(s: string): Record<string, string> {
  if (s.startsWith("team:")) return { team: s.slice(5) };
  if (s.startsWith("account:")) return { account: s.slice(8) };
  return {};
}

/** The list's filters for a queue. */
export function queueQuery(q: Queue): Record<string, string> {
  switch (q) {
    case "mine":
      return { assignee: "me" };
    case "unassigned":
      return { assignee: "none" };
    case "unanswered":
      return { unanswered: "true" };
    case "escalated":
      return { escalated: "true" };
    case "open":
      return {};
    case "resolved":
      return { status: "resolved" };
  }
}

export const isSupervisor = computed(
  () => me.value?.role === "supervisor" || me.value?.role === "admin",
);
