// A message's photos, voice notes and videos as the gateway keeps them: shown from their
// presigned links (another origin: the media bucket, allowed by the CSP's img-src and
// media-src), or what became of them (fetching, too large, expired on the platform).
//
// Links expire (MEDIA_URL_TTL_SECS); each read of the thread brings fresh ones. A link is kept
// while it has more than a minute left, so an image is not fetched again, nor a voice note or
// video interrupted, at each refresh.
import type { MediaItem, ThreadItem } from "./api";
import { t } from "./i18n";

const KEEP_MS = 60_000;
const links = new Map<string, { url: string; expires: number }>();

/** The link to show for `m` of message `id`: the one shown before while it stays valid. */
export function stableUrl(id: string, m: MediaItem, now = Date.now()): string | undefined {
  if (!m.url) return undefined;
  const key = `${id}/${m.kind}/${m.sha256 ?? ""}`;
  const shown = links.get(key);
  if (shown && shown.expires - now > KEEP_MS) return shown.url;
  links.set(key, { url: m.url, expires: m.url_expires_at_ms ?? now });
  return m.url;
}

const mb = (bytes: number) => (bytes / (1024 * 1024)).toFixed(1).replace(/\.0$/, "");

let probe: HTMLAudioElement | null = null;
/** Whether this browser can play `type` (AMR: no browser can). */
export function canPlay(type: string | undefined): boolean {
  if (!type) return false;
  probe ??= document.createElement("audio");
  return probe.canPlayType(type) !== "";
}

/** What became of a record that has no link to show. */
function Status({ m }: { m: MediaItem }) {
  switch (m.state) {
    case "pending":
      return <span class="media-status muted" data-state="pending">{t("media_fetching")}</span>;
    case "too_large":
      return (
        <span class="media-status warning-text" data-state="too_large">
          {t("media_too_large", { size: mb(m.bytes ?? 0), limit: mb(m.limit ?? 0) })}
        </span>
      );
    case "unavailable":
      return (
        <span class="media-status warning-text" data-state="unavailable">
          {t("media_unavailable", { code: m.platform_code ?? "?" })}
        </span>
      );
    default:
      return <span class="media-status muted" data-state="stored">{t("media_stored")}</span>;
  }
}

/** The media of an inbound message (`item.media`), each in the way the browser can show it. */
export function Media({ item }: { item: ThreadItem }) {
  const all = item.media ?? [];
  const thumb = all.find((m) => m.kind === "thumb");
  const poster = thumb ? stableUrl(item.id, thumb) : undefined;
  const main = all.filter((m) => m.kind !== "thumb");
  const recognition = item.content?.recognition as string | undefined;
  return (
    <div class="media" data-testid="media">
      {main.map((m) => {
        const url = stableUrl(item.id, m);
        if (!url) {
          return (
            <div key={m.kind} class="media-item" data-kind={m.kind}>
              {icon(m.kind)} {t(m.kind as "image" | "voice" | "video")} <Status m={m} />
            </div>
          );
        }
        switch (m.kind) {
          case "image":
            return (
              <div key={m.kind} class="media-item" data-kind="image">
                <a href={url} target="_blank" rel="noopener noreferrer" title={t("open_original")}>
                  <img src={url} alt={t("image_alt")} class="media-image" loading="lazy" />
                </a>
              </div>
            );
          case "voice":
            return (
              <div key={m.kind} class="media-item" data-kind="voice">
                {canPlay(m.content_type) ? (
                  <audio controls preload="none" src={url} aria-label={t("voice")} />
                ) : (
                  <span>
                    🎙 {t("voice_unplayable", { type: m.content_type ?? "?" })}{" "}
                    <a href={url} download rel="noopener noreferrer">{t("download")}</a>
                  </span>
                )}
              </div>
            );
          default:
            return (
              <div key={m.kind} class="media-item" data-kind="video">
                <video controls preload="none" src={url} poster={poster} class="media-video" aria-label={t("video")} />
              </div>
            );
        }
      })}
      {/* A thumbnail whose video is not there (too large, expired): the picture alone. */}
      {poster && !main.some((m) => m.kind === "video" && m.url) && (
        <img src={poster} alt={t("video_thumb")} class="media-thumb" />
      )}
      {recognition && <span class="recognition">{t("recognition", { text: recognition })}</span>}
    </div>
  );
}

export function icon(kind: string): string {
  return kind === "image" ? "🖼" : kind === "voice" ? "🎙" : kind === "video" ? "🎬" : "📎";
}
