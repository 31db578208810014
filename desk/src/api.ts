// The desk API (docs/desk-api.md): every call carries the access token; a 401 refreshes the
// session once and retries, then signs out. Errors keep the API's stable code.
import { accessToken, expire, refresh } from "./auth";
import { config } from "./config";

export type Channel = "wechat" | "weibo";
export type Status = "open" | "pending" | "resolved";
export type Priority = "low" | "normal" | "high" | "urgent";

export interface MessagePreview {
  direction: "in" | "out";
  kind: string;
  text: string;
  at: number;
}

/** What the platform says about the customer (docs/profiles.md). */
export interface CustomerProfile {
  fetched_at: number;
  source: Channel;
  language?: string;
  subscribed?: boolean;
  subscribe_time?: number;
  subscribe_scene?: string;
  remark?: string;
  tag_ids?: number[];
  unionid?: string;
  screen_name?: string;
  followers_count?: number;
  verified?: boolean;
  verified_reason?: string;
}

export interface ConversationRow {
  key: string;
  channel: Channel;
  account: string;
  customer_id: string;
  status: Status;
  team: string | null;
  assignee: string | null;
  priority: Priority;
  tags: string[];
  escalated: boolean;
  unanswered: boolean;
  waiting_since: number | null;
  response_due_at: number | null;
  sla_breached_at: number | null;
  last_inbound_at: number;
  last_message: MessagePreview | null;
  /** The CRM's name, else the remark, else the screen name, else the platform id. */
  display_name: string;
  /** 100,000 followers or more, or verified. */
  opinion_leader: boolean;
  profile: CustomerProfile | null;
  /** What the company's CRM calls this WeChat customer (joined by unionid), if anything. */
  crm: CrmContact | null;
  version: number;
}

export interface CrmContact {
  name: string;
  external_id: string | null;
  /** https:// only (the API refuses anything else). */
  url: string | null;
  updated_at: number;
}

export interface ReplyWindow {
  trigger: string;
  opened_at: number;
  closes_at: number;
  sent: number;
  left: number | null;
}

export interface Conversation extends ConversationRow {
  reply: {
    can_reply: boolean;
    reason: string | null;
    windows: ReplyWindow[];
    last_undeliverable: { at: number; reason: string; platform_code?: number | null } | null;
    text_limit?: { max: number; unit: "bytes" | "chars" };
    /** A public comment's limit (Weibo only). */
    public_text_limit?: { max: number; unit: "bytes" | "chars" } | null;
    /** Public replies delivered (they use no private window). */
    public_replies?: { sent: number; last_at?: number };
  };
  clock: {
    service_level: string | null;
    response_due_at: number | null;
    response_seconds_left: number | null;
    sla_breached_at: number | null;
    escalated_at: number | null;
    escalation_count: number;
  };
  first_inbound_at: number;
  opened_at: number | null;
  first_response_at: number | null;
  assigned_at: number | null;
  resolved_at: number | null;
  resolved_by: string | null;
  reopened_count: number;
  inbound_count: number;
}

/** One media object of a message, as the gateway fetched it (docs/desk-api.md, the thread). */
export interface MediaItem {
  kind: "image" | "voice" | "video" | "thumb";
  state: "pending" | "stored" | "too_large" | "unavailable";
  content_type?: string;
  bytes?: number;
  sha256?: string;
  limit?: number;
  platform_code?: number;
  message?: string;
  /** A presigned link, valid until `url_expires_at_ms`; a new one comes with each thread read. */
  url?: string;
  url_expires_at_ms?: number;
}

/** What `POST /media` answers: WeChat's id of an agent's file, for a reply. */
export interface Uploaded {
  media_id: string;
  type: "image" | "voice" | "video" | "thumb";
  expires_at_ms: number;
  upload_key: string;
  bytes: number;
  sha256: string;
  content_type: string;
}

export interface ThreadItem {
  seq: number;
  id: string;
  type: "inbound" | "outbound" | "note";
  at: number;
  kind: string;
  text: string | null;
  content?: Record<string, any>;
  origin?: { type: "rule" | "agent" | "system"; rule_id?: string; agent_id?: string };
  /** `accepted` (a template message WeChat took; its result comes later), then `delivered`
   * or `undeliverable` (with `delivery_reason`). */
  delivery?: "delivered" | "accepted" | "undeliverable";
  delivery_reason?: string | null;
  author?: string;
  media?: MediaItem[];
  /** Written or answered in public (a Weibo comment or mention, or a public comment reply). */
  public?: boolean;
  /** The post a public message concerns. */
  post?: { id: string; excerpt?: string; author_id?: string } | null;
}

export interface AgentProfile {
  agent_id: string;
  display_name: string;
  teams: string[];
  accounts: string[];
  capacity: number;
  updated_at?: number;
  version: number;
}

export interface Me {
  agent_id: string;
  role: "agent" | "supervisor" | "admin";
  profile: AgentProfile | null;
}

export interface CannedView {
  id: string;
  title: string;
  text: string;
  rendered: string;
}

export interface Counts {
  open: number;
  unanswered: number;
  escalated: number;
  breached: number;
  mine: number;
  unassigned: number;
  resolved: number;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly body: any,
  ) {
    super(message);
  }
}

type Query = Record<string, string | number | boolean | undefined | null>;

export interface Answer<T> {
  status: number;
  body: T;
  etag: string | null;
}

/** Requests made, by path: the browser tests read it to check there is no request per row. */
export const requestLog: string[] = [];
(globalThis as any).__deskRequests = requestLog;

export async function call<T>(
  method: string,
  path: string,
  opts: { query?: Query; body?: unknown; ifMatch?: string; file?: Blob } = {},
  retried = false,
): Promise<Answer<T>> {
  const token = await accessToken();
  if (!token) throw new ApiError(401, "signed_out", "signed out", null);
  const qs = new URLSearchParams();
  for (const [k, v] of Object.entries(opts.query ?? {})) {
    if (v !== undefined && v !== null && v !== "") qs.set(k, String(v));
  }
  const url = config().api_url + path + (qs.size ? `?${qs}` : "");
  const headers: Record<string, string> = { Authorization: `Bearer ${token}` };
  if (opts.body !== undefined) headers["Content-Type"] = "application/json";
  // A file goes as it is; the API reads its type from its bytes.
  if (opts.file) headers["Content-Type"] = "application/octet-stream";
  if (opts.ifMatch) headers["If-Match"] = opts.ifMatch;
  requestLog.push(`${method} ${path}`);
  const res = await fetch(url, {
    method,
    headers,
    body: opts.file ?? (opts.body === undefined ? undefined : JSON.stringify(opts.body)),
  });
  if (res.status === 401) {
    if (!retried && (await refresh())) return call(method, path, opts, true);
    expire();
    throw new ApiError(401, "expired", "session expired", null);
  }
  const text = await res.text();
  const body = text ? JSON.parse(text) : null;
  if (!res.ok) {
    throw new ApiError(res.status, body?.error ?? `http_${res.status}`, body?.message ?? text, body);
  }
  return { status: res.status, body: body as T, etag: res.headers.get("ETag") };
}

export const enc = encodeURIComponent;

export const api = {
  me: () => call<Me>("GET", "/me").then((a) => a.body),
  list: (query: Query) =>
    call<{ items: ConversationRow[]; next_cursor: string | null }>("GET", "/conversations", {
      query,
    }).then((a) => a.body),
  counts: (query: Query) =>
    call<{ counts: Counts; capped: boolean }>("GET", "/conversations/counts", { query }).then(
      (a) => a.body,
    ),
  takeNext: () => call<Conversation | null>("POST", "/conversations/next"),
  get: (key: string) => call<Conversation>("GET", `/conversations/${enc(key)}`).then((a) => a.body),
  change: (key: string, version: number, body: Record<string, unknown>) =>
    call<Conversation>("PATCH", `/conversations/${enc(key)}`, {
      body,
      ifMatch: `"${version}"`,
    }).then((a) => a.body),
  thread: (key: string, cursor?: string | null) =>
    call<{ items: ThreadItem[]; next_cursor: string | null }>(
      "GET",
      `/conversations/${enc(key)}/messages`,
      { query: { limit: 100, cursor } },
    ).then((a) => a.body),
  reply: (key: string, text: string, idempotencyKey: string) =>
    call<{ reply_id: string; status: string }>("POST", `/conversations/${enc(key)}/replies`, {
      body: { content: { type: "text", text }, idempotency_key: idempotencyKey },
    }).then((a) => a.body),
  replyPublic: (key: string, text: string, place: { post_id: string; comment_id?: string }, idempotencyKey: string) =>
    call<{ reply_id: string; status: string }>("POST", `/conversations/${enc(key)}/replies`, {
      body: {
        content: { type: "public_comment", text, post_id: place.post_id, ...(place.comment_id ? { comment_id: place.comment_id } : {}) },
        idempotency_key: idempotencyKey,
      },
    }).then((a) => a.body),
  replyMedia: (key: string, type: string, mediaId: string, idempotencyKey: string) =>
    call<{ reply_id: string; status: string }>("POST", `/conversations/${enc(key)}/replies`, {
      body: { content: { type, media_id: mediaId }, idempotency_key: idempotencyKey },
    }).then((a) => a.body),
  replyTemplate: (
    key: string,
    template: { template_id: string; data: Record<string, { value: string }>; url?: string },
    idempotencyKey: string,
  ) =>
    call<{ reply_id: string; status: string }>("POST", `/conversations/${enc(key)}/replies`, {
      body: { content: { type: "template", ...template }, idempotency_key: idempotencyKey },
    }).then((a) => a.body),
  upload: (account: string, file: Blob) =>
    call<Uploaded>("POST", "/media", { query: { account }, file }).then((a) => a.body),
  note: (key: string, text: string) =>
    call<ThreadItem>("POST", `/conversations/${enc(key)}/notes`, { body: { text } }).then(
      (a) => a.body,
    ),
  canned: (key: string) =>
    call<{ items: CannedView[] }>("GET", "/canned-responses", {
      query: { conversation: key },
    }).then((a) => a.body.items),
  agents: () => call<{ items: AgentProfile[] }>("GET", "/agents").then((a) => a.body.items),
  putAgent: (p: Omit<AgentProfile, "updated_at">) =>
    call<AgentProfile>("PUT", `/agents/${enc(p.agent_id)}`, { body: p }).then((a) => a.body),
  deleteAgent: (id: string) => call<null>("DELETE", `/agents/${enc(id)}`),
  stats: (query: Query) => call<any>("GET", "/stats", { query }).then((a) => a.body),
};
