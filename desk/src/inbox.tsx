// The agent's workspace: queues with live counts, the list of the chosen queue in the API's
// order, and the open conversation beside it (alone on a phone). One list call and one counts
// call per refresh, whatever the number of rows.
import { useEffect, useRef, useState } from "preact/hooks";
import { api, ApiError, type ConversationRow, type Counts } from "./api";
import { ChannelBadge, ResponseClock } from "./badges";
import { ConversationView } from "./conversation";
import { OpinionLeaderBadge } from "./profile";
import { duration, now } from "./format";
import { t, type Key } from "./i18n";
import { pollMs, usePoll } from "./poll";
import { go, href } from "./router";
import {
  activeScope,
  queue,
  QUEUES,
  queueQuery,
  scopeQuery,
  scopes,
  setQueue,
  setScope,
  tagFilter,
  type Queue,
} from "./state";

const COUNT_OF: Record<Queue, keyof Counts> = {
  mine: "mine",
  unassigned: "unassigned",
  unanswered: "unanswered",
  escalated: "escalated",
  open: "open",
  resolved: "resolved",
};

export function Workspace({ selected }: { selected: string | null }) {
  return (
    <div class={`workspace ${selected ? "has-selection" : ""}`}>
      <Inbox selected={selected} />
      <section class="detail-pane" aria-label={t("thread")}>
        {selected ? (
          <ConversationView key={selected} convKey={selected} />
        ) : (
          <p class="muted placeholder">{t("select_conversation")}</p>
        )}
      </section>
    </div>
  );
}

function Inbox({ selected }: { selected: string | null }) {
  const [rows, setRows] = useState<ConversationRow[] | null>(null);
  const [cursor, setCursor] = useState<string | null>(null);
  const [limit, setLimit] = useState(25);
  const [counts, setCounts] = useState<Counts | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  // What is typed in the tag filter, applied half a second after the last key (or on Enter);
  // the list's refreshes leave it alone.
  const [tagDraft, setTagDraft] = useState(tagFilter.value);
  useEffect(() => {
    const id = setTimeout(() => (tagFilter.value = tagDraft), 500);
    return () => clearTimeout(id);
  }, [tagDraft]);
  const seen = useRef<Set<string> | null>(null);
  const fresh = useRef<Set<string>>(new Set());
  const s = activeScope.value;
  const q = queue.value;
  const tag = tagFilter.value.trim();

  usePoll(
    async () => {
      const scopeQ = scopeQuery(s);
      try {
        const [page, c] = await Promise.all([
          api.list({ ...scopeQ, ...queueQuery(q), tag: tag || undefined, limit }),
          api.counts(scopeQ).catch((e) => {
            if (e instanceof ApiError && e.status === 404) return null;
            throw e;
          }),
        ]);
        // Rows not in the last answer are new: marked until the next refresh after they are seen.
        const before = seen.current;
        fresh.current = new Set(
          before ? page.items.filter((r) => !before.has(r.key)).map((r) => r.key) : [],
        );
        seen.current = new Set(page.items.map((r) => r.key));
        setRows(page.items);
        // The browser tests read when the first rows were on screen (docs/benchmarks.md).
        if (performance.getEntriesByName("desk:inbox-rows").length === 0) {
          requestAnimationFrame(() => performance.mark("desk:inbox-rows"));
        }
        setCursor(page.next_cursor);
        setCounts(c?.counts ?? null);
        setProblem(null);
      } catch (e) {
        if (e instanceof ApiError && e.status === 401) return;
        setProblem(e instanceof ApiError ? `${e.code}: ${e.message}` : t("offline"));
      }
    },
    pollMs(),
    [s, q, tag, limit],
  );

  async function takeNext() {
    setNotice(null);
    try {
      const a = await api.takeNext();
      if (a.status === 204 || !a.body) setNotice(t("nothing_to_take"));
      else go({ page: "conversation", key: a.body.key });
    } catch (e) {
      if (e instanceof ApiError && e.code === "at_capacity") setNotice(t("at_capacity"));
      else setNotice(t("action_failed", { reason: e instanceof Error ? e.message : String(e) }));
    }
  }

  return (
    <section class="list-pane" aria-label={t("nav_inbox")}>
      <div class="inbox-tools">
        <label class="field">
          {t("scope")}
          <select value={s} onChange={(e) => setScope(e.currentTarget.value)} data-testid="scope">
            {scopes.value.map((sc) => (
              <option value={sc} key={sc}>
                {sc.startsWith("team:")
                  ? t("scope_team", { name: sc.slice(5) })
                  : t("scope_account", { name: sc.slice(8) })}
              </option>
            ))}
          </select>
        </label>
        <label class="field">
          {t("filter_tag")}
          <input
            type="search"
            placeholder={t("filter_tag_placeholder")}
            value={tagDraft}
            onInput={(e) => setTagDraft(e.currentTarget.value)}
            onKeyDown={(e) => e.key === "Enter" && (tagFilter.value = tagDraft)}
          />
        </label>
        <button type="button" class="primary" onClick={takeNext}>
          {t("take_next")}
        </button>
      </div>
      <nav class="queues" aria-label={t("queues")}>
        {QUEUES.map((name) => (
          <button
            type="button"
            key={name}
            class="queue"
            aria-pressed={q === name}
            data-queue={name}
            onClick={() => setQueue(name)}
          >
            <span>{t(`queue_${name}` as Key)}</span>
            {counts && (
              <span class="count" data-testid={`count-${name}`}>
                {counts[COUNT_OF[name]]}
              </span>
            )}
          </button>
        ))}
      </nav>
      <p class="muted small" aria-live="polite">
        {notice ?? (problem ? <span class="error">{problem}</span> : t("updated_live", { s: pollMs() / 1000 }))}
      </p>
      {rows === null ? (
        <p class="muted">{t("loading")}</p>
      ) : rows.length === 0 ? (
        <p class="muted" data-testid="empty">{t("empty_queue")}</p>
      ) : (
        <ul class="rows" data-testid="rows">
          {rows.map((r) => (
            <Row key={r.key} row={r} selected={r.key === selected} fresh={fresh.current.has(r.key)} />
          ))}
        </ul>
      )}
      {cursor && (
        <button type="button" onClick={() => setLimit(Math.min(100, limit + 25))}>
          {t("load_more")}
        </button>
      )}
    </section>
  );
}

function Row({ row, selected, fresh }: { row: ConversationRow; selected: boolean; fresh: boolean }) {
  const waiting = row.unanswered && row.waiting_since !== null ? now.value - row.waiting_since : null;
  return (
    <li
      class={`row ${row.escalated ? "escalated" : ""} ${selected ? "selected" : ""}`}
      data-key={row.key}
      data-escalated={row.escalated ? "true" : "false"}
    >
      <a href={href({ page: "conversation", key: row.key })} aria-current={selected ? "true" : undefined}>
        <div class="row-head">
          <strong class="customer">{row.display_name}</strong>
          <OpinionLeaderBadge row={row} />
          {fresh && <span class="badge new">{t("new_badge")}</span>}
          <ChannelBadge channel={row.channel} account={row.account} />
        </div>
        <div class="preview">{row.last_message?.text ?? ""}</div>
        <div class="row-meta">
          {row.escalated && <span class="badge escalated">{t("escalated")}</span>}
          <span class={`badge ${row.unanswered ? "unanswered" : "answered"}`}>
            {t(row.unanswered ? "unanswered" : "answered")}
          </span>
          <ResponseClock unanswered={row.unanswered} dueAt={row.response_due_at} breachedAt={row.sla_breached_at} />
          {waiting !== null && <span class="muted">{t("waiting_for", { d: duration(waiting) })}</span>}
          {row.tags.map((tag) => (
            <span class="tag" key={tag}>
              {tag}
            </span>
          ))}
          <span class="muted">{row.assignee ? t("assigned_to", { name: row.assignee }) : t("unassigned")}</span>
        </div>
      </a>
    </li>
  );
}
