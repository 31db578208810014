// What the browser tests use of the local stack: webhooks (gatewayctl send, signed as the
// platforms sign them), the desk API with a demo user's token, and the platform stand-ins'
// record of what they received.
import { spawnSync } from "node:child_process";
import { createHmac } from "node:crypto";
import { readFileSync } from "node:fs";
import { expect, type Page } from "@playwright/test";

const need = (name: string): string => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run the browser tests with tools/desk-test.sh`);
  return v;
};

const repo = new URL("../..", import.meta.url).pathname;
const gatewayctl = () => process.env.GATEWAYCTL ?? "gatewayctl";

export const PASSWORDS: Record<string, string> = {
  lina: "Demo-lina-2026!",
  wei: "Demo-wei-2026!",
  jing: "Demo-jing-2026!",
};

/** A unique id for this run, so each test has customers of its own. */
export function unique(prefix: string): string {
  return `${prefix}${Date.now().toString(36)}${Math.floor(Math.random() * 1e4)}`;
}

/** Runs gatewayctl from the repository; a failure carries what it printed. */
function ctl(args: string[]): string {
  const out = spawnSync(gatewayctl(), args, { cwd: repo, encoding: "utf8" });
  if (out.status !== 0) {
    throw new Error(`gatewayctl ${args.join(" ")}: exit ${out.status}\n${out.stdout}\n${out.stderr}`);
  }
  return out.stdout;
}

// A push the webhook could not queue (503: the emulator was slow to answer) is sent again
// unchanged, as the platforms do; the gateway stores it once.
export function send(channel: "wechat" | "weibo", account: string, from: string, text: string) {
  ctl(["send", channel, "--account", account, "--from", from, "--text", text, "--retries", "2"]);
}

/** A WeChat push other than text: an event (`--event subscribe`) or a location. */
export function sendWechat(account: string, from: string, args: string[]) {
  ctl(["send", "wechat", "--account", account, "--from", from, ...args, "--retries", "2"]);
}

/**
 * A customer's public comment under one of the account's Weibo posts, queued as the poller
 * queues what it reads (`gatewayctl desk seed-comment`).
 */
export function sendComment(account: string, from: string, ids: { comment: string; post: string }, postText: string, text: string) {
  ctl([
    "desk", "seed-comment", "--account", account, "--from", from,
    "--comment-id", ids.comment, "--post-id", ids.post, "--post-text", postText, "--text", text,
  ]);
}

/**
 * A WeChat follower's message received `hoursAgo` hours ago, queued as the webhook would have
 * queued it then (`gatewayctl desk seed-late`): the 48-hour reply window has closed.
 */
export function sendLate(account: string, from: string, text: string, hoursAgo = 49) {
  ctl(["desk", "seed-late", "--account", account, "--from", from, "--text", text, "--hours-ago", String(hoursAgo)]);
}

/** WeChat's TEMPLATESENDJOBFINISH push for the template message `msgid` to `to`, signed. */
export function sendTemplateFinish(account: string, to: string, msgid: string, status: string) {
  ctl(["send", "wechat", "--account", account, "--from", to, "--msg-id", msgid, "--template-status", status, "--retries", "2"]);
}

/** A unique Weibo-style id (digits). */
export function weiboId(): string {
  return `49${Date.now()}${Math.floor(Math.random() * 1e3).toString().padStart(3, "0")}`;
}

const tokens = new Map<string, string>();
export function token(user: string): string {
  if (!tokens.has(user)) {
    tokens.set(user, ctl(["desk", "login", "--user", user]).trim());
  }
  return tokens.get(user)!;
}

export async function deskApi(user: string, method: string, path: string, body?: unknown, ifMatch?: string) {
  const headers: Record<string, string> = { Authorization: `Bearer ${token(user)}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (ifMatch) headers["If-Match"] = ifMatch;
  const res = await fetch(need("DESK_API_URL") + path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null, etag: res.headers.get("ETag") };
}

/**
 * The company CRM (the local accounts document's `demo-crm` client) setting or deleting its
 * name for a WeChat customer through reply-api, signed as docs/replies.md says (`v2`).
 */
export async function crmContact(method: "PUT" | "DELETE", account: string, unionid: string, body?: object) {
  const accounts = JSON.parse(readFileSync(need("GATEWAY_ACCOUNTS_FILE"), "utf8"));
  const secret: string = accounts.api_clients["demo-crm"].secret;
  const path = `/contacts/wechat/${account}/${unionid}`;
  const text = body === undefined ? "" : JSON.stringify(body);
  const ts = Math.floor(Date.now() / 1000).toString();
  const mac = createHmac("sha256", secret).update(`v2\n${method}\n${path}\ndemo-crm\n${ts}\n${text}`).digest("hex");
  const url = need("DESK_API_URL").replace(/\/desk-api$/, "/reply-api") + path;
  const res = await fetch(url, {
    method,
    headers: {
      "Content-Type": "application/json",
      "X-Gateway-Client": "demo-crm",
      "X-Gateway-Timestamp": ts,
      "X-Gateway-Signature": `v2=${mac}`,
    },
    body: text || undefined,
  });
  expect(res.status, await res.clone().text()).toBe(200);
}

/** Waits until the conversation is stored (the desk API answers it). */
export async function stored(user: string, key: string, check: (c: any) => boolean = () => true) {
  await expect
    .poll(async () => {
      const r = await deskApi(user, "GET", `/conversations/${encodeURIComponent(key)}`);
      return r.status === 200 && check(r.body);
    }, { timeout: 30_000 })
    .toBe(true);
}

/** Assigns the conversation to `user` through the API (their "mine" queue then shows it). */
export async function assignTo(user: string, key: string) {
  const path = `/conversations/${encodeURIComponent(key)}`;
  // The version moves while the gateway answers the customer: read again on a conflict.
  await expect
    .poll(async () => {
      const c = (await deskApi(user, "GET", path)).body;
      return (await deskApi(user, "PATCH", path, { assignee: "me" }, `"${c.version}"`)).status;
    })
    .toBe(200);
}

/** What the WeChat and Weibo stand-ins received. */
export async function platformRequests(): Promise<any> {
  const res = await fetch(`${need("GATEWAY_STUB_URL")}/admin/requests`);
  return res.json();
}

export async function signIn(page: Page, user: string) {
  await page.goto("/");
  await page.getByLabel(/用户名|User name/).fill(user);
  await page.getByLabel(/密码|Password/).fill(PASSWORDS[user]);
  await page.getByRole("button", { name: /^(登录|Sign in)$/ }).click();
  await expect(page.getByTestId("who")).toBeVisible();
}

/** Screenshots go to DESK_SCREENSHOTS_DIR (docs/desk/ for `make desk-screenshots`), if set. */
export async function screenshot(page: Page, name: string, fullPage = false) {
  const dir = process.env.DESK_SCREENSHOTS_DIR;
  if (!dir) return;
  const size = page.viewportSize();
  if (fullPage && size) {
    // The page scrolls inside <main>: a taller window shows all of it.
    const height = await page.evaluate(() => (document.querySelector("main")?.scrollHeight ?? 0) + 60);
    await page.setViewportSize({ width: size.width, height: Math.max(size.height, height) });
  }
  await page.screenshot({ path: `${dir}/${name}.png` });
  if (fullPage && size) await page.setViewportSize(size);
}

/** Collects what the browser refuses under the Content-Security-Policy on `page`. */
export function cspViolations(page: Page): string[] {
  const seen: string[] = [];
  page.on("console", (m) => {
    if (/Content Security Policy|Refused to/.test(m.text())) seen.push(m.text());
  });
  return seen;
}

/** Registers an object the WeChat stand-in's media download serves (`video`: as a video). */
export async function registerMedia(mediaId: string, contentType: string, body: Buffer, opts: { video?: boolean; expired?: boolean } = {}) {
  const res = await fetch(`${need("GATEWAY_STUB_URL")}/admin/media`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({
      channel: "wechat",
      media_id: mediaId,
      content_type: contentType,
      body_base64: body.toString("base64"),
      video: opts.video ?? false,
      expired: opts.expired ?? false,
    }),
  });
  expect(res.status).toBe(200);
}

/**
 * Puts a media record on the conversation's latest inbound message as the media-fetcher
 * would (`gatewayctl desk seed-media`), e.g. `{"state":"pending"}`.
 */
export function seedMedia(key: string, kind: string, state: object) {
  ctl(["desk", "seed-media", "--conversation", key, "--kind", kind, "--state", JSON.stringify(state)]);
}

/** The uploads the WeChat stand-in received (an agent's files). */
export async function platformUploads(): Promise<any[]> {
  const res = await fetch(`${need("GATEWAY_STUB_URL")}/admin/uploads`);
  return (await res.json()).uploads;
}

/** The media records of the conversation's thread, per message, as the desk API gives them. */
export async function threadMedia(user: string, key: string): Promise<any[][]> {
  const r = await deskApi(user, "GET", `/conversations/${encodeURIComponent(key)}/messages`);
  return (r.body?.items ?? []).filter((i: any) => i.type === "inbound").map((i: any) => i.media ?? []);
}
