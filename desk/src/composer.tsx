// The reply box: the channel's length limit shown as one types, canned responses on Ctrl+/,
// Ctrl/Cmd+Enter to send, a file attached (WeChat only: uploaded, then sent by its
// media_id). A draft is kept per conversation until the API has it; a refusal keeps the text
// and says why. On Weibo, a reply goes in public (a comment under the customer's comment or
// post, 140 characters) or as a private message; it defaults to where the customer last wrote.
import { useEffect, useRef, useState } from "preact/hooks";
import { api, ApiError, type CannedView, type Conversation, type ThreadItem } from "./api";
import { t, type Key } from "./i18n";
import { icon } from "./media";
import { lastWroteInPublic, latestPlace } from "./public";
import { TemplateForm } from "./template";

/** What WeChat takes (the API reads the type from the bytes; this only filters the picker). */
const ACCEPT = "image/jpeg,image/png,image/gif,audio/amr,.amr,audio/mpeg,.mp3,video/mp4";

/** Why a file was not sent, in words. */
function uploadReason(e: unknown): string {
  if (!(e instanceof ApiError)) return t("offline");
  switch (e.code) {
    case "too_large":
      return t("upload_too_large", { limit: ((e.body?.limit ?? 0) / (1024 * 1024)).toFixed(1).replace(/\.0$/, "") });
    case "unsupported_media_type":
      return t("upload_bad_type");
    case "platform_error":
      return t("upload_platform", { code: e.body?.platform_code ?? "?" });
    default:
      return reasonText(e.body?.reason, e.message);
  }
}

export interface Pending {
  replyId: string;
  text: string;
  at: number;
  state: "queued" | "failed";
  reason?: string;
}

const REASONS = new Set([
  "window_closed",
  "quota_exhausted",
  "unfollowed",
  "no_interaction",
  "user_refused",
  "user_block",
  "system_failed",
]);

/** The reason a reply was refused or undeliverable, in words. */
export function reasonText(reason: string | null | undefined, fallback?: string): string {
  if (reason && REASONS.has(reason)) return t(`reason_${reason}` as Key);
  return fallback || reason || t("reason_delivery_failed");
}

function length(text: string, unit: "bytes" | "chars"): number {
  return unit === "bytes" ? new TextEncoder().encode(text).length : [...text].length;
}

export function Composer(props: {
  conv: Conversation;
  items: ThreadItem[];
  onQueued: (p: Pending) => void;
  onNote: () => void;
}) {
  const { conv } = props;
  // Public or private: where the customer last wrote, until the agent picks.
  const place = latestPlace(props.items);
  const [picked, setPicked] = useState<"public" | "private" | null>(null);
  const where = place ? (picked ?? (lastWroteInPublic(props.items) ? "public" : "private")) : "private";
  const inPublic = where === "public" && !!place;
  const draftKey = `desk.draft.${conv.key}`;
  const [mode, setMode] = useState<"reply" | "note">("reply");
  const [text, setText] = useState(() => sessionStorage.getItem(draftKey) ?? "");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [cannedOpen, setCannedOpen] = useState(false);
  const idempotency = useRef<string>(crypto.randomUUID());
  const box = useRef<HTMLTextAreaElement>(null);
  const picker = useRef<HTMLInputElement>(null);
  const [uploading, setUploading] = useState(false);
  const [templating, setTemplating] = useState(false);

  useEffect(() => {
    if (text) sessionStorage.setItem(draftKey, text);
    else sessionStorage.removeItem(draftKey);
  }, [text, draftKey]);

  const limit = inPublic ? (conv.reply.public_text_limit ?? { max: 140, unit: "chars" as const }) : conv.reply.text_limit;
  const used = limit ? length(text, limit.unit) : [...text].length;
  const tooLong = mode === "reply" && !!limit && used > limit.max;

  async function send() {
    const body = text.trim();
    if (!body || busy || tooLong) return;
    setBusy(true);
    setError(null);
    try {
      if (mode === "note") {
        await api.note(conv.key, body);
        props.onNote();
      } else {
        const out =
          inPublic && place
            ? await api.replyPublic(conv.key, body, place, idempotency.current)
            : await api.reply(conv.key, body, idempotency.current);
        const label = inPublic ? `[${t("public_badge")}] ${body}` : body;
        props.onQueued({ replyId: out.reply_id, text: label, at: Date.now(), state: "queued" });
      }
      setText("");
      idempotency.current = crypto.randomUUID();
    } catch (e) {
      // The text stays in the box; a retry of a reply uses the same idempotency key, so a
      // reply the API did take is still delivered once.
      if (e instanceof ApiError) setError(t("send_failed", { reason: reasonText(e.body?.reason, e.message) }));
      else setError(t("send_failed", { reason: t("offline") }));
    } finally {
      setBusy(false);
    }
  }

  /** Uploads `file` to WeChat (POST /media), then replies with its media_id. */
  async function sendFile(file: File) {
    if (busy) return;
    setBusy(true);
    setUploading(true);
    setError(null);
    try {
      const up = await api.upload(`${conv.channel}:${conv.account}`, file);
      setUploading(false);
      const out = await api.replyMedia(conv.key, up.type, up.media_id, crypto.randomUUID());
      const label = `${icon(up.type)} ${t(up.type as "image" | "voice" | "video")} · ${file.name}`;
      props.onQueued({ replyId: out.reply_id, text: label, at: Date.now(), state: "queued" });
    } catch (e) {
      setError(t("upload_failed", { reason: uploadReason(e) }));
    } finally {
      setBusy(false);
      setUploading(false);
    }
  }

  function onKeyDown(e: KeyboardEvent) {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      send();
    } else if (e.key === "/" && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      setCannedOpen(true);
    }
  }

  function insert(c: CannedView) {
    const el = box.current;
    const at = el ? el.selectionStart : text.length;
    const next = text.slice(0, at) + c.rendered + text.slice(el ? el.selectionEnd : at);
    setText(next);
    setCannedOpen(false);
    requestAnimationFrame(() => {
      el?.focus();
      el?.setSelectionRange(at + c.rendered.length, at + c.rendered.length);
    });
  }

  // A public comment has no private window.
  const disabled = mode === "reply" && !inPublic && !conv.reply.can_reply;
  // Once WeChat's window has closed, a template message is the way left to follow up.
  const templateOffer = mode === "reply" && conv.channel === "wechat" && !conv.reply.can_reply;
  if (templateOffer && templating) {
    return (
      <section class="composer" aria-label={t("composer")}>
        <TemplateForm
          conv={conv}
          onQueued={(p) => {
            props.onQueued(p);
            setTemplating(false);
          }}
          onCancel={() => setTemplating(false)}
        />
      </section>
    );
  }
  return (
    <section class="composer" aria-label={t("composer")}>
      <div class="composer-modes" role="radiogroup">
        {(["reply", "note"] as const).map((m) => (
          <label key={m} class={`mode ${mode === m ? "on" : ""}`}>
            <input type="radio" name="mode" checked={mode === m} onChange={() => setMode(m)} />
            {t(m === "reply" ? "mode_reply" : "mode_note")}
          </label>
        ))}
      </div>
      {mode === "reply" && place && (
        <div class="composer-where" role="radiogroup" aria-label={t("where_label")} data-testid="reply-where">
          {(["public", "private"] as const).map((w) => (
            <label key={w} class={`mode ${where === w ? "on" : ""}`}>
              <input
                type="radio"
                name="where"
                value={w}
                checked={where === w}
                onChange={() => {
                  setPicked(w);
                  // Another destination is another reply: never the key of one sent elsewhere.
                  idempotency.current = crypto.randomUUID();
                }}
              />
              {t(w === "public" ? "where_public" : "where_private")}
            </label>
          ))}
          {inPublic && (
            <span class="public-target" data-testid="public-target">
              {t(place.comment_id ? "public_target_comment" : "public_target", { text: place.excerpt })}
            </span>
          )}
        </div>
      )}
      {templateOffer && (
        <p class="template-offer" data-testid="template-offer">
          {t("template_offer")}{" "}
          <button type="button" onClick={() => setTemplating(true)} data-testid="template-open">
            {t("template_open")}
          </button>
        </p>
      )}
      <textarea
        ref={box}
        rows={3}
        aria-label={t(mode === "reply" ? "composer_label" : "composer_note_label")}
        value={text}
        disabled={disabled}
        onInput={(e) => setText(e.currentTarget.value)}
        onKeyDown={onKeyDown}
        class={mode === "note" ? "note-box" : ""}
        data-testid="composer"
      />
      {cannedOpen && (
        <CannedPicker convKey={conv.key} onPick={insert} onClose={() => setCannedOpen(false)} />
      )}
      <div class="composer-foot">
        {mode === "reply" && limit && (
          <span class={`counter ${tooLong ? "error" : "muted"}`} data-testid="counter">
            {used} / {limit.max} {t(limit.unit === "bytes" ? "unit_bytes" : "unit_chars")}
            {tooLong && ` · ${t("too_long", { max: limit.max, unit: t(limit.unit === "bytes" ? "unit_bytes" : "unit_chars") })}`}
          </span>
        )}
        <span class="muted small">
          {t("send_hint")} · {t("canned_hint")}
        </span>
        <span class="spacer" />
        <input
          ref={picker}
          type="file"
          accept={ACCEPT}
          class="sr-only"
          tabIndex={-1}
          aria-hidden="true"
          data-testid="attach-input"
          onChange={(e) => {
            const file = e.currentTarget.files?.[0];
            e.currentTarget.value = "";
            if (file) sendFile(file);
          }}
        />
        {mode === "reply" && !inPublic && (
          <button
            type="button"
            data-testid="attach"
            disabled={conv.channel !== "wechat" || busy || disabled}
            title={conv.channel === "wechat" ? t("attach_hint") : t("attach_weibo")}
            aria-label={`${t("attach")}: ${conv.channel === "wechat" ? t("attach_hint") : t("attach_weibo")}`}
            onClick={() => picker.current?.click()}
          >
            📎 {uploading ? t("uploading") : t("attach")}
          </button>
        )}
        <button type="button" onClick={() => setCannedOpen(!cannedOpen)} aria-expanded={cannedOpen}>
          {t("canned")}
        </button>
        <button type="button" class="primary" disabled={busy || disabled || !text.trim() || tooLong} onClick={send}>
          {busy ? t("sending") : mode === "reply" ? t("send") : t("add_note")}
        </button>
      </div>
      {error && (
        <p role="alert" class="error" data-testid="send-error">
          {error}
        </p>
      )}
    </section>
  );
}

function CannedPicker(props: { convKey: string; onPick: (c: CannedView) => void; onClose: () => void }) {
  const [items, setItems] = useState<CannedView[] | null>(null);
  const [filter, setFilter] = useState("");
  const [active, setActive] = useState(0);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    api
      .canned(props.convKey)
      .then(setItems)
      .catch((e) => setError(e instanceof Error ? e.message : String(e)));
  }, [props.convKey]);
  const shown = (items ?? []).filter(
    (c) => !filter || c.title.includes(filter) || c.text.includes(filter) || c.id.includes(filter),
  );
  function onKeyDown(e: KeyboardEvent) {
    if (e.key === "Escape") props.onClose();
    else if (e.key === "ArrowDown") setActive(Math.min(active + 1, shown.length - 1));
    else if (e.key === "ArrowUp") setActive(Math.max(active - 1, 0));
    else if (e.key === "Enter" && shown[active]) {
      e.preventDefault();
      props.onPick(shown[active]);
    } else return;
    e.preventDefault();
  }
  return (
    <div class="canned" role="dialog" aria-label={t("canned")}>
      <input
        autoFocus
        type="search"
        aria-label={t("canned_search")}
        placeholder={t("canned_search")}
        value={filter}
        onInput={(e) => {
          setFilter(e.currentTarget.value);
          setActive(0);
        }}
        onKeyDown={onKeyDown}
      />
      {error && <p class="error">{error}</p>}
      {items && shown.length === 0 && <p class="muted">{t("canned_none")}</p>}
      <ul role="listbox" aria-label={t("canned")}>
        {shown.map((c, i) => (
          <li key={c.id} role="option" aria-selected={i === active}>
            <button type="button" onClick={() => props.onPick(c)} data-canned={c.id}>
              <strong>{c.title}</strong> <span class="muted">{c.rendered}</span>
            </button>
          </li>
        ))}
      </ul>
    </div>
  );
}
