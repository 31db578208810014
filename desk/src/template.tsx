// A WeChat template message (模板消息), the follow-up the platform allows once the 48-hour
// customer-service window has closed: a template id, its keywords (key/value rows) and an
// optional link. The gateway checks the fields (docs/replies.md, "Template messages"); a
// refusal keeps the form and says why.
import { useRef, useState } from "preact/hooks";
import { api, ApiError, type Conversation } from "./api";
import type { Pending } from "./composer";
import { t } from "./i18n";

interface Row {
  key: string;
  value: string;
}

export function TemplateForm(props: { conv: Conversation; onQueued: (p: Pending) => void; onCancel: () => void }) {
  const [templateId, setTemplateId] = useState("");
  const [rows, setRows] = useState<Row[]>([{ key: "first", value: "" }]);
  const [url, setUrl] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const idempotency = useRef<string>(crypto.randomUUID());

  const filled = rows.filter((r) => r.key.trim() && r.value.trim());
  const ready = !!templateId.trim() && filled.length > 0 && !busy;

  function edit(i: number, patch: Partial<Row>) {
    setRows(rows.map((r, j) => (j === i ? { ...r, ...patch } : r)));
  }

  async function send(e: Event) {
    e.preventDefault();
    if (!ready) return;
    setBusy(true);
    setError(null);
    const data: Record<string, { value: string }> = {};
    for (const r of filled) data[r.key.trim()] = { value: r.value };
    try {
      const out = await api.replyTemplate(
        props.conv.key,
        { template_id: templateId.trim(), data, ...(url.trim() ? { url: url.trim() } : {}) },
        idempotency.current,
      );
      const label = `📋 ${t("template_badge")} ${templateId.trim()} · ${filled[0].value}`;
      props.onQueued({ replyId: out.reply_id, text: label, at: Date.now(), state: "queued" });
      idempotency.current = crypto.randomUUID();
      setRows([{ key: "first", value: "" }]);
      setUrl("");
    } catch (e) {
      setError(t("send_failed", { reason: e instanceof ApiError ? e.message : t("offline") }));
    } finally {
      setBusy(false);
    }
  }

  return (
    <form class="template-form" onSubmit={send} data-testid="template-form" aria-label={t("template_title")}>
      <p class="muted small">{t("template_hint")}</p>
      <label>
        {t("template_id")}
        <input value={templateId} onInput={(e) => setTemplateId(e.currentTarget.value)} data-testid="template-id" required />
      </label>
      <fieldset>
        <legend>{t("template_fields")}</legend>
        {rows.map((r, i) => (
          <div class="template-row" key={i} data-testid="template-row">
            <input
              aria-label={t("template_key")}
              placeholder={t("template_key")}
              value={r.key}
              onInput={(e) => edit(i, { key: e.currentTarget.value })}
              data-testid="template-key"
            />
            <input
              aria-label={t("template_value")}
              placeholder={t("template_value")}
              value={r.value}
              onInput={(e) => edit(i, { value: e.currentTarget.value })}
              data-testid="template-value"
            />
            {rows.length > 1 && (
              <button type="button" aria-label={t("template_remove")} onClick={() => setRows(rows.filter((_, j) => j !== i))}>
                ✕
              </button>
            )}
          </div>
        ))}
        <button type="button" onClick={() => setRows([...rows, { key: "", value: "" }])} data-testid="template-add">
          {t("template_add")}
        </button>
      </fieldset>
      <label>
        {t("template_url")}
        <input type="url" value={url} onInput={(e) => setUrl(e.currentTarget.value)} data-testid="template-url" />
      </label>
      <div class="composer-foot">
        <span class="spacer" />
        <button type="button" onClick={props.onCancel}>
          {t("template_cancel")}
        </button>
        <button type="submit" class="primary" disabled={!ready} data-testid="template-send">
          {busy ? t("sending") : t("template_send")}
        </button>
      </div>
      {error && (
        <p role="alert" class="error" data-testid="template-error">
          {error}
        </p>
      )}
    </form>
  );
}
