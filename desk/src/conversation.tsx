// One conversation: who and where, the service-level clock and reply window, the actions, the
// thread and the composer. Every change is sent with the version it was made on; when someone
// else changed the conversation first, the latest is shown and nothing is overwritten.
import { useEffect, useRef, useState } from "preact/hooks";
import { api, ApiError, type AgentProfile, type Conversation, type ThreadItem } from "./api";
import { ChannelBadge, ResponseClock } from "./badges";
import { Composer, reasonText, type Pending } from "./composer";
import { clockTime, dateTime } from "./format";
import { t, type Key } from "./i18n";
import { pollMs, usePoll } from "./poll";
import { href } from "./router";
import { isSupervisor, me } from "./state";
import { latestPlace } from "./public";
import { ThreadView } from "./thread";
import { OpinionLeaderBadge, PlatformProfile } from "./profile";

export function ConversationView({ convKey }: { convKey: string }) {
  const [conv, setConv] = useState<Conversation | null>(null);
  const [items, setItems] = useState<ThreadItem[]>([]);
  const [missing, setMissing] = useState(false);
  const [banner, setBanner] = useState<{ kind: "conflict" | "error"; text: string } | null>(null);
  const [pending, setPending] = useState<Pending[]>([]);
  const end = useRef<HTMLDivElement>(null);

  async function load() {
    try {
      const [c, page] = await Promise.all([api.get(convKey), loadThread(convKey)]);
      setConv(c);
      setItems(page);
      setMissing(false);
      setPending((ps) =>
        ps
          .filter((p) => !page.some((i) => i.id === p.replyId))
          .map((p) =>
            p.state === "queued" && c.reply.last_undeliverable && c.reply.last_undeliverable.at >= p.at - 1000
              ? { ...p, state: "failed", reason: c.reply.last_undeliverable.reason }
              : p,
          ),
      );
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) setMissing(true);
    }
  }
  usePoll(load, pollMs(), [convKey]);

  const count = items.length + pending.length;
  useEffect(() => end.current?.scrollIntoView({ block: "end" }), [count]);

  async function change(body: Record<string, unknown>) {
    if (!conv) return;
    setBanner(null);
    try {
      try {
        setConv(await api.change(conv.key, conv.version, body));
      } catch (e) {
        // Changed since it was shown. When the fields this change sets are as they were shown
        // (the delivery of a reply moved the version, say), it is made once more on the
        // current version; otherwise the person sees the conflict and decides again.
        const current = e instanceof ApiError && e.code === "stale_version" ? (e.body?.current as Conversation) : null;
        if (!current || !untouched(conv, current, body)) throw e;
        setConv(await api.change(conv.key, current.version, body));
      }
    } catch (e) {
      if (e instanceof ApiError && e.code === "stale_version") {
        if (e.body?.current) setConv(e.body.current as Conversation);
        else await load();
        setBanner({ kind: "conflict", text: t("conflict") });
      } else {
        setBanner({ kind: "error", text: t("action_failed", { reason: e instanceof Error ? e.message : String(e) }) });
      }
    }
  }

  if (missing) {
    return (
      <div class="conversation">
        <a class="back" href={href({ page: "inbox" })}>← {t("back_to_inbox")}</a>
        <p role="alert" class="error">{t("not_found")}</p>
      </div>
    );
  }
  if (!conv) return <p class="muted">{t("loading")}</p>;
  return (
    <div class="conversation" data-testid="conversation" data-version={conv.version}>
      <a class="back" href={href({ page: "inbox" })}>← {t("back_to_inbox")}</a>
      <header class="conv-head">
        <h2 data-testid="customer-name">{conv.display_name}</h2>
        <ChannelBadge channel={conv.channel} account={conv.account} />
        <OpinionLeaderBadge row={conv} />
        <span class={`badge status-${conv.status}`} data-testid="status">{t(`status_${conv.status}` as Key)}</span>
        {conv.escalated && <span class="badge escalated" data-testid="escalated">{t("escalated")}</span>}
        <span class={`badge ${conv.unanswered ? "unanswered" : "answered"}`}>
          {t(conv.unanswered ? "unanswered" : "answered")}
        </span>
        <ResponseClock unanswered={conv.unanswered} dueAt={conv.response_due_at} breachedAt={conv.sla_breached_at} />
      </header>
      {banner && (
        <p role="alert" class={banner.kind === "conflict" ? "warning" : "error"} data-testid={banner.kind}>
          {banner.text}
        </p>
      )}
      <Actions conv={conv} change={change} />
      <ReplyWindow conv={conv} inPublic={latestPlace(items) !== null} />
      <details class="profile" data-testid="profile" open={conv.profile !== null}>
        <summary>{t("profile")}</summary>
        <dl>
          <dt>{t("customer")}</dt>
          <dd>{conv.customer_id}</dd>
          <PlatformProfile conv={conv} />
          <dt>{t("account")}</dt>
          <dd>{`${conv.channel}:${conv.account}`}</dd>
          <dt>{t("first_contact")}</dt>
          <dd>{dateTime(conv.first_inbound_at)}</dd>
          <dt>{t("messages_in")}</dt>
          <dd>{conv.inbound_count}</dd>
          <dt>{t("reopened")}</dt>
          <dd>{conv.reopened_count}</dd>
        </dl>
      </details>
      <div class="thread-wrap">
        <ThreadView items={items} />
        {pending.length > 0 && (
          <ol class="thread pending" aria-live="polite">
            {pending.map((p) => (
              <li key={p.replyId} class={`msg outbound agent ${p.state}`} data-testid="pending-reply">
                <div class="msg-head">
                  <span>{p.state === "queued" ? t("queued") : t("send_failed", { reason: reasonText(p.reason) })}</span>
                  <time>{clockTime(p.at)}</time>
                </div>
                <div class="msg-body">{p.text}</div>
              </li>
            ))}
          </ol>
        )}
        <div ref={end} />
      </div>
      <Composer
        key={conv.key}
        conv={conv}
        items={items}
        onQueued={(p) => setPending((ps) => [...ps, p])}
        onNote={load}
      />
    </div>
  );
}

/**
 * Whether what `body` changes is in `current` as it was in `shown`. Open and pending count as
 * the same for a status change (a delivered reply turns open into pending).
 */
export function untouched(shown: Conversation, current: Conversation, body: Record<string, unknown>): boolean {
  const active = (s: string) => (s === "resolved" ? "resolved" : "active");
  const sameTags = [...shown.tags].sort().join("\u0000") === [...current.tags].sort().join("\u0000");
  return Object.keys(body).every((field) => {
    switch (field) {
      case "status":
        return active(shown.status) === active(current.status);
      case "tags":
        return sameTags;
      case "assignee":
      case "team":
      case "priority":
      case "escalated":
        return shown[field] === current[field];
      default:
        return false;
    }
  });
}

async function loadThread(key: string): Promise<ThreadItem[]> {
  const items: ThreadItem[] = [];
  let cursor: string | null = null;
  for (let pages = 0; pages < 10; pages++) {
    const page: { items: ThreadItem[]; next_cursor: string | null } = await api.thread(key, cursor);
    items.push(...page.items);
    cursor = page.next_cursor;
    if (!cursor) break;
  }
  return items;
}

function ReplyWindow({ conv, inPublic }: { conv: Conversation; inPublic: boolean }) {
  const channel = t(conv.channel === "wechat" ? "channel_wechat" : "channel_weibo");
  const r = conv.reply;
  return (
    <div class="reply-window" data-testid="reply-window">
      {r.can_reply ? (
        (() => {
          const open = r.windows.filter((w) => w.left === null || w.left > 0);
          const w = open.sort((a, b) => b.closes_at - a.closes_at)[0];
          if (!w) return null;
          return w.left === null
            ? t("reply_until_unlimited", { channel, time: clockTime(w.closes_at) })
            : t("reply_until", { channel, time: clockTime(w.closes_at), left: w.left });
        })()
      ) : (
        <span class="error">{t("reply_closed", { reason: reasonText(r.reason) })}</span>
      )}
      {inPublic && (
        <span class="small" data-testid="public-open">
          {" "}
          {t("public_open")}
        </span>
      )}
      {r.last_undeliverable && (
        <span class="warning small">
          {" "}
          {t("last_undeliverable", { reason: reasonText(r.last_undeliverable.reason) })}
        </span>
      )}
    </div>
  );
}

function Actions({ conv, change }: { conv: Conversation; change: (b: Record<string, unknown>) => Promise<void> }) {
  const [agents, setAgents] = useState<AgentProfile[]>([]);
  const [tag, setTag] = useState("");
  const supervisor = isSupervisor.value;
  const myId = me.value?.agent_id;
  const teams = me.value?.profile?.teams ?? [];
  useEffect(() => {
    if (supervisor) api.agents().then(setAgents).catch(() => setAgents([]));
  }, [supervisor]);
  const teamOptions = Array.from(new Set([...teams, ...(conv.team ? [conv.team] : [])]));
  return (
    <div class="actions" role="toolbar" aria-label={t("assign")}>
      {conv.assignee !== myId ? (
        <button type="button" onClick={() => change({ assignee: "me" })}>{t("assign_me")}</button>
      ) : (
        <button type="button" onClick={() => change({ assignee: null })}>{t("unassign")}</button>
      )}
      {supervisor && (
        <label class="field inline">
          {t("assignee")}
          <select
            value={conv.assignee ?? ""}
            onChange={(e) => change({ assignee: e.currentTarget.value || null })}
          >
            <option value="">{t("unassigned")}</option>
            {agents.map((a) => (
              <option key={a.agent_id} value={a.agent_id}>
                {a.display_name} ({a.agent_id})
              </option>
            ))}
            {conv.assignee && !agents.some((a) => a.agent_id === conv.assignee) && (
              <option value={conv.assignee}>{conv.assignee}</option>
            )}
          </select>
        </label>
      )}
      <label class="field inline">
        {t("team")}
        <select value={conv.team ?? ""} onChange={(e) => change({ team: e.currentTarget.value || null })}>
          <option value="">{t("no_team")}</option>
          {teamOptions.map((tm) => (
            <option key={tm} value={tm}>{tm}</option>
          ))}
        </select>
      </label>
      <label class="field inline">
        {t("priority")}
        <select value={conv.priority} onChange={(e) => change({ priority: e.currentTarget.value })}>
          {(["low", "normal", "high", "urgent"] as const).map((p) => (
            <option key={p} value={p}>{t(`priority_${p}` as Key)}</option>
          ))}
        </select>
      </label>
      {conv.status === "resolved" ? (
        <button type="button" onClick={() => change({ status: "open" })}>{t("reopen")}</button>
      ) : (
        <button type="button" class="primary" onClick={() => change({ status: "resolved" })}>{t("resolve")}</button>
      )}
      {conv.escalated && (
        <button type="button" onClick={() => change({ escalated: false })}>{t("clear_escalation")}</button>
      )}
      <span class="tags" aria-label={t("tags")}>
        {conv.tags.map((tg) => (
          <span class="tag" key={tg}>
            {tg}
            <button type="button" class="x" aria-label={t("remove_tag", { tag: tg })} onClick={() => change({ tags: { remove: [tg] } })}>
              ×
            </button>
          </span>
        ))}
        <form
          class="inline"
          onSubmit={(e) => {
            e.preventDefault();
            const v = tag.trim();
            if (v) change({ tags: { add: [v] } }).then(() => setTag(""));
          }}
        >
          <input aria-label={t("add_tag")} placeholder={t("add_tag")} value={tag} onInput={(e) => setTag(e.currentTarget.value)} size={10} />
        </form>
      </span>
    </div>
  );
}
