// The desk's guarantees beyond the happy path: a stale edit shows the conflict and overwrites
// nothing, an agent never sees an account outside their scope, both languages, session
// expiry, a phone screen, accessibility, and the budgets (size, requests per page).
import AxeBuilder from "@axe-core/playwright";
import { type Page, expect, test } from "@playwright/test";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { assignTo, deskApi, send, signIn, stored, unique } from "./stack";

/**
 * The supervisor changes the conversation through the API over the version the page shows.
 * The gateway may move that version meanwhile (the customer's profile arriving, an
 * auto-reply delivered): then the page is reloaded and the change made over the new one.
 */
async function changeBehindThePage(page: Page, key: string, openid: string, patch: object): Promise<any> {
  const conv = page.getByTestId("conversation");
  for (let attempt = 0; attempt < 10; attempt++) {
    const version = await conv.getAttribute("data-version");
    const other = await deskApi("jing", "PATCH", `/conversations/${encodeURIComponent(key)}`, patch, `"${version}"`);
    if (other.status === 200) return other.body;
    expect(other.status).toBe(409);
    await page.reload();
    await expect(conv.getByRole("heading", { name: openid })).toBeVisible();
  }
  throw new Error(`${key} kept changing`);
}

test("a stale edit shows the conflict, refreshes and overwrites nothing", async ({ page }) => {
  const openid = unique("oConflict");
  const key = `wechat:demo:${openid}`;
  send("wechat", "demo", openid, "请问发票怎么开？");
  // Once the customer's profile is on it (it arrives just after the first message and moves the
  // version), so that the only change between the page's read and its edit is the supervisor's.
  await stored("lina", key, (c) => c.profile != null);
  await signIn(page, "lina");
  await page.goto(`/#/c/${encodeURIComponent(key)}`);
  const conv = page.getByTestId("conversation");
  await expect(conv.getByRole("heading", { name: openid })).toBeVisible();
  // Someone else changes it (the supervisor, through the API) after the page read it.
  await changeBehindThePage(page, key, openid, { priority: "urgent" });

  await conv.getByLabel("优先级").selectOption("low");
  await expect(conv.getByTestId("conflict")).toContainText("刚被其他人修改");
  // The latest is shown: the supervisor's change stands, ours was not applied.
  await expect(conv.getByLabel("优先级")).toHaveValue("urgent");
  const now = await deskApi("lina", "GET", `/conversations/${encodeURIComponent(key)}`);
  expect(now.body.priority).toBe("urgent");
  // Once refreshed, the same change goes through.
  await conv.getByLabel("优先级").selectOption("low");
  await expect(conv.getByTestId("conflict")).toHaveCount(0);
  await expect.poll(async () => (await deskApi("lina", "GET", `/conversations/${encodeURIComponent(key)}`)).body.priority).toBe("low");
});

test("a change over a version moved by fields it does not set goes through and keeps them", async ({ page }) => {
  const openid = unique("oMerge");
  const key = `wechat:demo:${openid}`;
  send("wechat", "demo", openid, "退货流程是怎样的？");
  await stored("lina", key, (c) => c.profile != null);
  await signIn(page, "lina");
  await page.goto(`/#/c/${encodeURIComponent(key)}`);
  const conv = page.getByTestId("conversation");
  await expect(conv.getByRole("heading", { name: openid })).toBeVisible();
  const other = await changeBehindThePage(page, key, openid, { tags: { add: ["vip"] } });

  await conv.getByRole("button", { name: "解决", exact: true }).click();
  await expect(conv.getByTestId("status")).toHaveText("已解决");
  await expect(conv.getByTestId("conflict")).toHaveCount(0);
  const now = (await deskApi("lina", "GET", `/conversations/${encodeURIComponent(key)}`)).body;
  expect(now.status).toBe("resolved");
  expect(now.tags).toEqual(other.tags);
  expect(now.tags).toContain("vip");
});

test("an agent cannot see an account outside their scope", async ({ page }) => {
  const uid = String(6_000_000_000 + Math.floor(Math.random() * 1e9));
  const key = `weibo:brand:${uid}`;
  send("weibo", "brand", uid, "请问有优惠吗");
  await stored("lina", key);
  await signIn(page, "wei"); // wechat:demo only
  const scopes = await page.getByTestId("scope").locator("option").allTextContents();
  expect(scopes.join(" ")).not.toContain("weibo");
  await page.goto(`/#/c/${encodeURIComponent(key)}`);
  await expect(page.getByRole("alert")).toHaveText("会话不存在或不在您的范围内");
  await expect(page.getByText("请问有优惠吗")).toHaveCount(0);
  await page.goto("/#/inbox");
  for (const q of ["我的", "团队待领取", "未回复", "已升级", "全部进行中"]) {
    await page.getByRole("button", { name: new RegExp(q) }).click();
    await expect(page.locator(`li.row[data-key="${key}"]`)).toHaveCount(0);
  }
  // Nor the supervisor pages.
  await expect(page.getByRole("link", { name: "数据看板" })).toHaveCount(0);
  await page.goto("/#/dashboard");
  await expect(page.getByRole("alert")).toHaveText("您没有权限查看此页面");
});

test("the desk speaks Chinese by default and English on request, and remembers it", async ({ page }) => {
  await page.goto("/");
  await expect(page.locator("html")).toHaveAttribute("lang", "zh-CN");
  await expect(page.getByRole("button", { name: "登录" })).toBeVisible();
  await page.getByRole("button", { name: "English" }).click();
  await expect(page.locator("html")).toHaveAttribute("lang", "en");
  await expect(page.getByRole("button", { name: "Sign in" })).toBeVisible();
  await signIn(page, "lina");
  await expect(page.getByRole("link", { name: "Inbox" })).toBeVisible();
  await expect(page.getByRole("button", { name: /Unanswered/ })).toBeVisible();
  await expect(page.getByRole("button", { name: "Take next" })).toBeVisible();
  await page.reload();
  await expect(page.getByRole("button", { name: "Sign out" })).toBeVisible();
  await page.getByRole("button", { name: "中文" }).click();
  await expect(page.getByRole("button", { name: "退出" })).toBeVisible();
});

test("a wrong password is refused; an expired or refused token refreshes, the session ends when it cannot, and signing out revokes it", async ({ page }) => {
  await page.goto("/");
  await page.getByLabel("用户名").fill("lina");
  await page.getByLabel("密码").fill("not-the-password");
  await page.getByRole("button", { name: "登录" }).click();
  await expect(page.getByRole("alert")).toHaveText("用户名或密码错误");

  await signIn(page, "lina");
  // The access token has expired: the desk refreshes it and goes on.
  await page.evaluate(() => {
    const s = JSON.parse(sessionStorage.getItem("desk.session")!);
    sessionStorage.setItem("desk.session", JSON.stringify({ ...s, accessToken: "expired", expiresAt: Date.now() - 1000 }));
  });
  await page.reload();
  await expect(page.getByTestId("who")).toHaveText("李娜");
  await expect
    .poll(() => page.evaluate(() => JSON.parse(sessionStorage.getItem("desk.session")!).accessToken))
    .not.toBe("expired");
  await expect(page.getByTestId("rows").or(page.getByTestId("empty"))).toBeVisible();
  // A token the API refuses (401) although it has not expired: refreshed, the call made again.
  await page.evaluate(() => {
    const s = JSON.parse(sessionStorage.getItem("desk.session")!);
    sessionStorage.setItem("desk.session", JSON.stringify({ ...s, accessToken: "refused", expiresAt: Date.now() + 3_600_000 }));
  });
  await page.reload();
  await expect
    .poll(() => page.evaluate(() => JSON.parse(sessionStorage.getItem("desk.session")!).accessToken))
    .not.toBe("refused");
  await expect(page.getByTestId("rows").or(page.getByTestId("empty"))).toBeVisible();
  await expect(page.getByTestId("who")).toHaveText("李娜");
  // The refresh token is no longer valid either: back to sign-in, saying why.
  await page.evaluate(() => {
    const s = JSON.parse(sessionStorage.getItem("desk.session")!);
    sessionStorage.setItem("desk.session", JSON.stringify({ ...s, accessToken: "expired", refreshToken: "revoked", expiresAt: Date.now() - 1000 }));
  });
  await page.reload();
  await expect(page.getByText("会话已过期，请重新登录")).toBeVisible();
  await expect(page.getByRole("button", { name: "登录" })).toBeVisible();
  // Signing out forgets the session and revokes its refresh token at Cognito.
  await signIn(page, "lina");
  const refreshToken = await page.evaluate(() => JSON.parse(sessionStorage.getItem("desk.session")!).refreshToken);
  const clientId = (await (await page.request.get("/config.json")).json()).cognito.client_id;
  const refreshWith = async () =>
    (
      await page.request.post("/cognito/", {
        headers: { "Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "AWSCognitoIdentityProviderService.InitiateAuth" },
        data: JSON.stringify({ AuthFlow: "REFRESH_TOKEN_AUTH", ClientId: clientId, AuthParameters: { REFRESH_TOKEN: refreshToken } }),
      })
    ).status();
  expect(await refreshWith()).toBe(200);
  await page.getByRole("button", { name: "退出" }).click();
  await expect(page.getByRole("button", { name: "登录" })).toBeVisible();
  expect(await page.evaluate(() => sessionStorage.getItem("desk.session"))).toBeNull();
  await expect.poll(refreshWith).toBe(400);
});

test("on a phone, the inbox and the conversation take the screen in turn", async ({ browser }) => {
  const openid = unique("oPhone");
  const key = `wechat:demo:${openid}`;
  send("wechat", "demo", openid, "手机上能看到吗？");
  await stored("lina", key);
  await assignTo("lina", key);
  const page = await browser.newPage({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
  await signIn(page, "lina");
  await page.getByTestId("scope").selectOption("team:wechat-care");
  await page.getByRole("button", { name: /^我的/ }).click();
  const row = page.locator(`li.row[data-key="wechat:demo:${openid}"]`);
  await row.getByRole("link").click();
  await expect(page.getByTestId("conversation")).toBeVisible();
  await expect(page.getByTestId("rows")).toBeHidden();
  const width = await page.evaluate(() => document.documentElement.scrollWidth);
  expect(width).toBeLessThanOrEqual(390);
  await page.getByRole("link", { name: /返回收件箱/ }).click();
  await expect(page.getByTestId("rows")).toBeVisible();
  await page.close();
});

test("labels and contrast pass axe's WCAG 2 AA rules on the inbox, a conversation and the dashboard", async ({ page }) => {
  const openid = unique("oAxe");
  send("wechat", "demo", openid, "无障碍检查");
  await stored("lina", `wechat:demo:${openid}`);
  await page.goto("/");
  const check = async (where: string) => {
    const result = await new AxeBuilder({ page }).withTags(["wcag2a", "wcag2aa"]).analyze();
    expect(result.violations.map((v) => `${where}: ${v.id} (${v.nodes.length})`)).toEqual([]);
  };
  await check("sign-in");
  await signIn(page, "jing");
  await page.goto(`/#/c/${encodeURIComponent(`wechat:demo:${openid}`)}`);
  await expect(page.getByTestId("conversation")).toBeVisible();
  await check("conversation");
  await page.getByRole("link", { name: "数据看板" }).click();
  await expect(page.getByTestId("kpi-inbound")).toBeVisible();
  await check("dashboard");
});

test("budgets: JavaScript under 150 KB gzipped, one list call per inbox page, time to an interactive inbox", async ({ page }) => {
  const dir = new URL("../dist/assets/", import.meta.url).pathname;
  const js = readdirSync(dir).filter((f) => f.endsWith(".js"));
  const gz = js.reduce((n, f) => n + gzipSync(readFileSync(dir + f), { level: 9 }).length, 0);
  expect(gz).toBeLessThan(150 * 1024);

  // Enough conversations for a full page of 25.
  for (let i = 0; i < 26; i++) send("wechat", "demo", unique(`oBudget${i}x`), `第 ${i} 位客户`);
  await signIn(page, "lina");
  await page.getByTestId("scope").selectOption("team:wechat-care");
  await page.getByRole("button", { name: /全部进行中/ }).click();
  await expect.poll(() => page.locator("li.row").count(), { timeout: 30_000 }).toBe(25);

  // Fresh loads of the inbox, signed in, once the stack is idle: when its first rows were on
  // screen (a mark the desk sets), and the API calls it made.
  await expect.poll(() => page.locator(".badge.new").count(), { timeout: 30_000 }).toBe(0);
  const samples: number[] = [];
  for (let i = 0; i < 11; i++) {
    await page.reload();
    await expect(page.locator("li.row")).toHaveCount(25);
    await page.waitForFunction(() => performance.getEntriesByName("desk:inbox-rows").length > 0);
    samples.push(await page.evaluate(() => performance.getEntriesByName("desk:inbox-rows")[0].startTime));
  }
  samples.sort((a, b) => a - b);
  const timing = { rowsAt: samples[5], domContentLoaded: await page.evaluate(() => (performance.getEntriesByType("navigation")[0] as PerformanceNavigationTiming).domContentLoadedEventEnd) };
  const calls = await page.evaluate(() => (globalThis as any).__deskRequests as string[]);
  const lists = calls.filter((c) => c === "GET /conversations").length;
  const perRow = calls.filter((c) => /^GET \/conversations\/[^/]+$/.test(c) && c !== "GET /conversations/counts").length;
  expect(perRow).toBe(0);
  // At most one list call per refresh since the load (one refresh per 3 s).
  expect(lists).toBeLessThanOrEqual(1 + Math.ceil(timing.rowsAt / 3000));
  const figures = { js_gzip_bytes: gz, js_files: js.length, inbox_rows_visible_ms_median_of_11: Math.round(timing.rowsAt), inbox_rows_visible_ms_samples: samples.map(Math.round), dom_content_loaded_ms: Math.round(timing.domContentLoaded), api_calls_at_load: calls };
  if (process.env.DESK_BUDGETS_FILE) writeFileSync(process.env.DESK_BUDGETS_FILE, JSON.stringify(figures, null, 2));
  console.log(JSON.stringify(figures));
});

test("the local server sends the deployed headers and serves nothing but the build", async ({ request }) => {
  const index = await request.get("/");
  expect(index.headers()["content-security-policy"]).toContain("default-src 'self'; script-src 'self'");
  expect(index.headers()["x-frame-options"]).toBe("DENY");
  expect(index.headers()["cache-control"]).toBe("no-cache");
  const config = await request.get("/config.json");
  expect(config.headers()["cache-control"]).toBe("no-store");
  expect(Object.keys(await config.json()).sort()).toEqual(["api_url", "cognito", "poll_seconds"]);
  // Outside dist/: the app's page, never the file.
  for (const path of ["/..%2Fpackage.json", "/%2E%2E/serve.mjs", "/../dist-x/index.html"]) {
    const res = await request.get(path);
    expect(await res.text()).toContain('<div id="app">');
  }
  expect((await request.get("/%E0%A4%A")).status()).toBe(400);
});
