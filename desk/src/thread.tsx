// A conversation's thread, in the order things happened: the customer's messages on one side,
// auto-replies and agents' replies on the other (each styled apart), notes set apart, events
// as compact lines; photos, voice notes and videos from the media bucket (media.tsx). What was
// written or answered in public (a Weibo comment or mention, a public comment reply) carries a
// "public" badge, with the excerpt of the post it is under.
import type { ThreadItem } from "./api";
import { clockTime, dateTime } from "./format";
import { t } from "./i18n";
import { icon, Media } from "./media";

/** Text with its web links made clickable (opened in a new tab, no referrer). */
function Linked({ text }: { text: string }) {
  const parts = text.split(/(https?:\/\/[^\s<>"']+)/g);
  return (
    <>
      {parts.map((p, i) =>
        /^https?:\/\//.test(p) ? (
          <a key={i} href={p} target="_blank" rel="noopener noreferrer">
            {p}
          </a>
        ) : (
          p
        ),
      )}
    </>
  );
}

function Content({ item }: { item: ThreadItem }) {
  const c = item.content ?? {};
  if (item.media?.length) return <Media item={item} />;
  if (item.type === "outbound" && ["image", "voice", "video"].includes(item.kind)) {
    // An agent's file: WeChat has it (its media_id); the desk shows what was sent.
    return (
      <span>
        {icon(item.kind)} {t(item.kind as "image" | "voice" | "video")}{" "}
        <span class="muted small">{t("media_sent")}</span>
      </span>
    );
  }
  switch (item.kind) {
    case "template":
      return <TemplateContent item={item} />;
    case "text":
      return <Linked text={item.text ?? c.text ?? ""} />;
    case "image":
      return (
        <span>
          🖼 {t("image")} {t("media_pending")}{" "}
          {c.url && (
            <a href={c.url} target="_blank" rel="noopener noreferrer">
              {t("open_original")}
            </a>
          )}
        </span>
      );
    case "voice":
      return (
        <span>
          🎙 {t("voice")} {c.format ? `(${c.format})` : ""} {t("media_pending")}
          {c.recognition && <span class="recognition">{t("recognition", { text: c.recognition })}</span>}
        </span>
      );
    case "video":
      return (
        <span>
          🎬 {t("video")} {t("media_pending")}
        </span>
      );
    case "location": {
      const lat = Number(c.latitude);
      const lng = Number(c.longitude);
      return (
        <span>
          📍 {t("location", { lat: lat.toFixed(5), lng: lng.toFixed(5) })} {c.label ?? ""}{" "}
          <a
            href={`https://www.openstreetmap.org/?mlat=${lat}&mlon=${lng}#map=16/${lat}/${lng}`}
            target="_blank"
            rel="noopener noreferrer"
          >
            {t("open_map")}
          </a>
        </span>
      );
    }
    case "link":
      return (
        <span>
          🔗{" "}
          <a href={c.url} target="_blank" rel="noopener noreferrer">
            {c.title || c.url}
          </a>
          {c.description && <span class="muted"> — {c.description}</span>}
        </span>
      );
    case "mention":
      return (
        <span>
          <span class="badge">{t("mention", { subtype: c.subtype ?? "" })}</span> <Linked text={c.text ?? ""} />
        </span>
      );
    case "comment":
      return (
        <span>
          <span class="badge">{t("comment_label")}</span> <Linked text={item.text ?? c.text ?? ""} />
        </span>
      );
    case "other":
      return <span class="muted">{t("other_kind", { type: c.platform_type ?? "?" })}</span>;
    default:
      return <Linked text={item.text ?? `(${item.kind})`} />;
  }
}

/** A template message: its keywords, and what WeChat reported of its delivery. */
function TemplateContent({ item }: { item: ThreadItem }) {
  const c = item.content ?? {};
  const data = (c.data ?? {}) as Record<string, { value: string }>;
  const state =
    item.delivery === "accepted"
      ? t("template_accepted")
      : item.delivery === "undeliverable"
        ? item.delivery_reason === "user_block"
          ? t("template_user_block")
          : t("template_failed")
        : t("template_delivered");
  return (
    <span data-testid="template-message">
      <span class="badge">📋 {t("template_badge")}</span> <span class="muted small">{c.template_id}</span>
      <dl class="template-data">
        {Object.entries(data).map(([k, v]) => (
          <div key={k}>
            <dt>{k}</dt>
            <dd>{v.value}</dd>
          </div>
        ))}
      </dl>
      <span class={`small ${item.delivery === "undeliverable" ? "error" : "muted"}`} data-testid="template-delivery">
        {state}
      </span>
    </span>
  );
}

function who(item: ThreadItem): { cls: string; label: string } {
  if (item.type === "note") return { cls: "note", label: t("note_by", { name: (item.author ?? "").replace(/^agent:/, "") }) };
  if (item.type === "inbound") return { cls: "inbound", label: t("from_customer") };
  switch (item.origin?.type) {
    case "rule":
      return { cls: "outbound bot", label: `${t("from_bot")}${item.origin.rule_id ? ` · ${item.origin.rule_id}` : ""}` };
    case "agent":
      return { cls: "outbound agent", label: t("from_agent", { name: item.origin.agent_id ?? "" }) };
    default:
      return { cls: "outbound system", label: t("from_system") };
  }
}

export function ThreadView({ items }: { items: ThreadItem[] }) {
  return (
    <ol class="thread" data-testid="thread" aria-label={t("thread")}>
      {items.map((item) => {
        if (item.kind === "event" && item.type === "inbound") {
          const c = item.content ?? {};
          return (
            <li key={item.id} class="event-line" data-seq={item.seq}>
              {t("event_line", { event: `${c.event ?? ""}${c.key ? ` · ${c.key}` : ""}` })}{" "}
              <time dateTime={new Date(item.at).toISOString()}>{clockTime(item.at)}</time>
            </li>
          );
        }
        const w = who(item);
        return (
          <li key={item.id} class={`msg ${w.cls}`} data-seq={item.seq} data-type={item.type}>
            <div class="msg-head">
              <span>
                {w.label}
                {item.public && (
                  <span class="badge public" data-testid="public-badge">
                    {t("public_badge")}
                  </span>
                )}
              </span>
              <time dateTime={new Date(item.at).toISOString()} title={dateTime(item.at)}>
                {clockTime(item.at)}
              </time>
            </div>
            {item.post?.excerpt && (
              <blockquote class="post-excerpt" data-testid="post-excerpt">
                {t("post_excerpt", { text: item.post.excerpt })}
              </blockquote>
            )}
            <div class="msg-body">
              <Content item={item} />
            </div>
          </li>
        );
      })}
    </ol>
  );
}
