// Who the customer is: the profile the platform holds about them (docs/profiles.md), fetched
// after the conversation's first message. WeChat no longer gives nicknames: the name shown is
// the company CRM's name for the customer (joined by unionid), else the operator's remark,
// else the Weibo screen name, else the platform id (the API's `display_name`).
import type { Conversation, ConversationRow, CustomerProfile } from "./api";
import { dateTime } from "./format";
import { t } from "./i18n";

/** The opinion-leader (意见领袖) badge: 100,000 followers or more, or verified. */
export function OpinionLeaderBadge({ row }: { row: ConversationRow }) {
  if (!row.opinion_leader) return null;
  return (
    <span class="badge opinion-leader" data-testid="opinion-leader" title={t("opinion_leader_hint")}>
      {t("opinion_leader")}
    </span>
  );
}

function WeChatFields({ p }: { p: CustomerProfile }) {
  return (
    <>
      <dt>{t("profile_remark")}</dt>
      <dd data-testid="profile-remark">{p.remark ?? t("profile_none")}</dd>
      <dt>{t("profile_language")}</dt>
      <dd data-testid="profile-language">{p.language ?? t("profile_none")}</dd>
      <dt>{t("profile_subscribed_since")}</dt>
      <dd>{p.subscribed === false ? t("profile_unsubscribed") : p.subscribe_time ? dateTime(p.subscribe_time) : t("profile_none")}</dd>
      <dt>{t("profile_scene")}</dt>
      <dd>{p.subscribe_scene ?? t("profile_none")}</dd>
      <dt>{t("profile_tags")}</dt>
      <dd>{p.tag_ids && p.tag_ids.length > 0 ? p.tag_ids.join(", ") : t("profile_none")}</dd>
      <dt>{t("profile_unionid")}</dt>
      <dd data-testid="profile-unionid">{p.unionid ?? t("profile_none")}</dd>
    </>
  );
}

function WeiboFields({ p }: { p: CustomerProfile }) {
  return (
    <>
      <dt>{t("profile_screen_name")}</dt>
      <dd data-testid="profile-screen-name">{p.screen_name ?? t("profile_none")}</dd>
      <dt>{t("profile_followers")}</dt>
      <dd data-testid="profile-followers">{p.followers_count !== undefined ? p.followers_count.toLocaleString() : t("profile_none")}</dd>
      <dt>{t("profile_verified")}</dt>
      <dd data-testid="profile-verified">
        {p.verified ? <span class="badge verified">{t("profile_verified_yes")}</span> : t("profile_verified_no")}
        {p.verified && p.verified_reason ? ` ${p.verified_reason}` : ""}
      </dd>
    </>
  );
}

/** The CRM's rows: its name for the customer, its id and a link to its record. */
function CrmFields({ conv }: { conv: Conversation }) {
  const c = conv.crm;
  if (!c) return null;
  // The API only stores https:// links; checked again so no other scheme becomes a link.
  const link = c.url && c.url.startsWith("https://") ? c.url : null;
  return (
    <>
      <dt>{t("profile_crm_name")}</dt>
      <dd data-testid="crm-name">{c.name}</dd>
      <dt>{t("profile_crm_id")}</dt>
      <dd data-testid="crm-id">
        {link ? (
          <a href={link} target="_blank" rel="noopener noreferrer" data-testid="crm-link">
            {c.external_id ?? t("profile_crm_open")}
          </a>
        ) : (
          c.external_id ?? t("profile_none")
        )}
      </dd>
    </>
  );
}

/** The platform's profile rows of the customer panel (and the CRM's, when it names them). */
export function PlatformProfile({ conv }: { conv: Conversation }) {
  const p = conv.profile;
  if (!p) {
    return (
      <>
        <dt>{t("profile_platform")}</dt>
        <dd data-testid="profile-pending">{t("profile_not_yet")}</dd>
      </>
    );
  }
  return (
    <>
      <CrmFields conv={conv} />
      {p.source === "wechat" ? <WeChatFields p={p} /> : <WeiboFields p={p} />}
      <dt>{t("profile_fetched")}</dt>
      <dd>{dateTime(p.fetched_at)}</dd>
    </>
  );
}
