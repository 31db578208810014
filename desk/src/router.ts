// Hash routes: #/inbox, #/c/<conversation key>, #/dashboard, #/agents.
import { signal } from "@preact/signals";

export type Route =
  | { page: "inbox" }
  | { page: "conversation"; key: string }
  | { page: "dashboard" }
  | { page: "agents" };

function parse(hash: string): Route {
  const path = hash.replace(/^#/, "");
  if (path.startsWith("/c/")) return { page: "conversation", key: decodeURIComponent(path.slice(3)) };
  if (path === "/dashboard") return { page: "dashboard" };
  if (path === "/agents") return { page: "agents" };
  return { page: "inbox" };
}

export const route = signal<Route>(parse(location.hash));
addEventListener("hashchange", () => (route.value = parse(location.hash)));

export function href(r: Route): string {
  switch (r.page) {
    case "conversation":
      return `#/c/${encodeURIComponent(r.key)}`;
    case "inbox":
      return "#/inbox";
    default:
      return `#/${r.page}`;
  }
}

export function go(r: Route) {
  location.hash = href(r);
}
