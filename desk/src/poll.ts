import { useEffect, useRef } from "preact/hooks";
import { config } from "./config";

/** How often the desk asks for news, in milliseconds. */
export function pollMs(): number {
  return (config().poll_seconds ?? 3) * 1000;
}

/**
 * Runs `fn` now and then every `ms` while the page is visible, again when it becomes visible,
 * and again whenever `deps` change; never two runs at once.
 */
export function usePoll(fn: () => Promise<void>, ms: number, deps: unknown[]) {
  const latest = useRef(fn);
  latest.current = fn;
  useEffect(() => {
    let running = false;
    let stopped = false;
    const tick = async () => {
      if (running || stopped || document.hidden) return;
      running = true;
      try {
        await latest.current();
      } finally {
        running = false;
      }
    };
    tick();
    const id = setInterval(tick, ms);
    const onVisible = () => !document.hidden && tick();
    document.addEventListener("visibilitychange", onVisible);
    return () => {
      stopped = true;
      clearInterval(id);
      document.removeEventListener("visibilitychange", onVisible);
    };
  }, deps);
}
