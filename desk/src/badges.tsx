// Small pieces shown in lists and headers: channel and account badges, the response clock.
import type { Channel } from "./api";
import { duration, now } from "./format";
import { t } from "./i18n";

export function ChannelBadge({ channel, account }: { channel: Channel; account: string }) {
  return (
    <span class="badges">
      <span class={`badge channel-${channel}`}>{t(channel === "wechat" ? "channel_wechat" : "channel_weibo")}</span>
      <span class="badge account">{account}</span>
    </span>
  );
}

/**
 * The time left to answer (or how long past due), ticking every second; red once breached.
 * Shown only while the customer waits for an answer with a due time.
 */
export function ResponseClock(props: {
  unanswered: boolean;
  dueAt: number | null;
  breachedAt: number | null;
}) {
  if (!props.unanswered || props.dueAt === null) return null;
  const left = props.dueAt - now.value;
  const breached = left < 0 || props.breachedAt !== null;
  return (
    <span
      class={`clock ${breached ? "breached" : left < 60_000 ? "soon" : ""}`}
      data-testid="response-clock"
      data-breached={breached ? "true" : "false"}
      role="timer"
    >
      {breached ? t("overdue", { d: duration(-left) }) : t("due_in", { d: duration(left) })}
    </span>
  );
}
