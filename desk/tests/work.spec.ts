// The rest of the day's work: notes, a reply the platform would refuse, the thread growing
// while it is open, agent management and the dashboard's CSV.
import { expect, test } from "@playwright/test";
import { readFileSync } from "node:fs";
import { assignTo, deskApi, platformRequests, send, sendWechat, signIn, stored, unique } from "./stack";

const path = (key: string) => `/conversations/${encodeURIComponent(key)}`;

test("a note stays internal, and the customer's next message joins the open thread", async ({ page }) => {
  const openid = unique("oNote");
  const key = `wechat:demo:${openid}`;
  send("wechat", "demo", openid, "我的快递显示已签收但我没收到");
  await stored("lina", key);
  await signIn(page, "lina");
  await page.goto(`/#/c/${encodeURIComponent(key)}`);
  const conv = page.getByTestId("conversation");
  await conv.getByRole("radio", { name: "内部备注" }).check();
  await conv.getByRole("textbox", { name: "备注内容" }).fill("已联系快递公司核实");
  await conv.getByRole("button", { name: "添加备注" }).click();
  await expect(conv.locator('li.msg.note[data-type="note"]')).toContainText("已联系快递公司核实");
  await expect(conv.locator('li.msg.note[data-type="note"]')).toContainText("lina 的备注");
  const received = await platformRequests();
  const toHer = received.wechat.messages.filter((m: any) => m.body?.touser === openid);
  expect(toHer.map((m: any) => JSON.stringify(m.body))).not.toContainEqual(expect.stringContaining("快递公司核实"));

  send("wechat", "demo", openid, "快递单号是 SF1234567890");
  await stored("lina", key, (c) => c.inbound_count === 2);
  await expect(conv.locator('li.msg.inbound[data-type="inbound"]', { hasText: "SF1234567890" })).toBeVisible({ timeout: 5_000 });
  // In the order things happened: the note before the second message.
  const order = await conv.locator("ol.thread > li").evaluateAll((els) => els.map((e) => e.textContent ?? ""));
  const noteAt = order.findIndex((t) => t.includes("快递公司核实"));
  const secondAt = order.findIndex((t) => t.includes("SF1234567890"));
  expect(noteAt).toBeGreaterThan(-1);
  expect(secondAt).toBeGreaterThan(noteAt);
});

test("a reply the platform would refuse is shown with its reason, and its text is kept", async ({ page }) => {
  const openid = unique("oQuota");
  const key = `wechat:demo:${openid}`;
  send("wechat", "demo", openid, "在吗？");
  await stored("lina", key);
  await signIn(page, "lina");
  await page.goto(`/#/c/${encodeURIComponent(key)}`);
  const conv = page.getByTestId("conversation");
  await expect(conv.getByTestId("reply-window")).toContainText("还可发送");
  // The page keeps the conversation as it read it (its refreshes of it fail from now on),
  // while the window's quota is used up through the API.
  await page.route(`**/api${path(key)}`, (route) => route.abort());
  for (let i = 0; i < 10; i++) {
    const c = (await deskApi("lina", "GET", path(key))).body;
    if (!c.reply.can_reply) break;
    const sent = c.reply.windows.reduce((n: number, w: any) => n + w.sent, 0);
    expect((await deskApi("lina", "POST", `${path(key)}/replies`, { content: { type: "text", text: `第 ${i + 1} 条回复` } })).status).toBe(202);
    // (A read the loaded emulator answers 503 counts as nothing sent yet: read again.)
    await expect.poll(async () => (await deskApi("lina", "GET", path(key))).body?.reply?.windows?.reduce((n: number, w: any) => n + w.sent, 0) ?? -1).toBeGreaterThan(sent);
  }
  expect((await deskApi("lina", "GET", path(key))).body.reply.reason).toBe("quota_exhausted");

  await conv.getByTestId("composer").fill("这一条会被拒绝");
  await page.keyboard.press("Control+Enter");
  await expect(conv.getByTestId("send-error")).toHaveText("未发送：本窗口的回复条数已用完");
  await expect(conv.getByTestId("composer")).toHaveValue("这一条会被拒绝");
  // Once the page reads the conversation again it says why no reply can be sent.
  await page.unroute(`**/api${path(key)}`);
  await expect(conv.getByTestId("reply-window")).toContainText("无法回复：本窗口的回复条数已用完");
  await expect(conv.getByTestId("composer")).toBeDisabled();
});

test("a supervisor creates, edits and deletes an agent profile", async ({ page }) => {
  const id = unique("agent-");
  page.on("dialog", (d) => d.accept());
  await signIn(page, "jing");
  await page.getByRole("link", { name: "坐席管理" }).click();
  await page.getByRole("button", { name: "新建坐席" }).click();
  await page.getByLabel("坐席 ID").fill(id);
  await page.getByLabel("显示名称").fill("张敏");
  await page.getByLabel("团队（逗号分隔）").fill("wechat-care, escalations");
  await page.getByRole("checkbox", { name: "wechat:demo" }).check();
  await page.getByLabel("接待上限").fill("4");
  await page.getByRole("button", { name: "保存" }).click();
  const row = page.locator(`tr[data-agent="${id}"]`);
  await expect(row).toContainText("张敏");
  await expect(row).toContainText("escalations, wechat-care");
  let stored = (await deskApi("jing", "GET", "/agents")).body.items.find((a: any) => a.agent_id === id);
  expect([stored.teams, stored.accounts, stored.capacity]).toEqual([["escalations", "wechat-care"], ["wechat:demo"], 4]);

  await row.getByRole("button", { name: "编辑" }).click();
  await page.getByLabel("接待上限").fill("6");
  await page.getByRole("button", { name: "保存" }).click();
  await expect(row.locator("td").nth(3)).toHaveText("6");
  stored = (await deskApi("jing", "GET", "/agents")).body.items.find((a: any) => a.agent_id === id);
  expect(stored.capacity).toBe(6);

  await row.getByRole("button", { name: "删除" }).click();
  await expect(row).toHaveCount(0);
  expect((await deskApi("jing", "GET", "/agents")).body.items.some((a: any) => a.agent_id === id)).toBe(false);
});

test("the dashboard's tables export as CSV", async ({ page }) => {
  send("wechat", "demo", unique("oCsv"), "导出测试");
  await signIn(page, "jing");
  await page.getByRole("link", { name: "数据看板" }).click();
  await page.getByTestId("dash-account").selectOption("wechat:demo");
  await expect(page.getByTestId("dashboard")).toHaveAttribute("data-shown", "wechat:demo|");
  const [download] = await Promise.all([page.waitForEvent("download"), page.getByTestId("csv-daily").click()]);
  expect(download.suggestedFilename()).toMatch(/^daily-wechat-demo-\d{4}-\d{2}-\d{2}-\d{4}-\d{2}-\d{2}\.csv$/);
  const csv = readFileSync((await download.path())!, "utf8");
  expect(csv.startsWith("\uFEFF日期,来信,新会话,已解决,升级,超时\r\n")).toBe(true);
  const rows = csv.trim().split("\r\n").slice(1);
  expect(rows.length).toBe(7);
  const shown = await page.getByTestId("table-daily").locator("tbody tr").evaluateAll((trs) =>
    trs.map((tr) => Array.from(tr.children).map((c) => c.textContent).join(",")),
  );
  expect(rows).toEqual(shown);
});

test("the thread shows events as lines, links to open, and a location with a map link", async ({ page }) => {
  const openid = unique("oKinds");
  const key = `wechat:demo:${openid}`;
  sendWechat("demo", openid, ["--event", "subscribe"]);
  send("wechat", "demo", openid, "订单页面打不开 https://shop.example.com/orders/8812 请看一下");
  sendWechat("demo", openid, ["--location", "31.2304,121.4737,上海市人民广场"]);
  await expect
    .poll(async () => {
      const r = await deskApi("lina", "GET", `${path(key)}/messages`);
      return r.status === 200 && r.body.items.some((i: any) => i.kind === "location");
    }, { timeout: 30_000 })
    .toBe(true);
  await signIn(page, "lina");
  await page.goto(`/#/c/${encodeURIComponent(key)}`);
  const thread = page.getByTestId("thread");
  await expect(thread.locator("li.event-line")).toContainText("事件：follow");
  const link = thread.getByRole("link", { name: "https://shop.example.com/orders/8812" });
  await expect(link).toHaveAttribute("href", "https://shop.example.com/orders/8812");
  await expect(link).toHaveAttribute("rel", "noopener noreferrer");
  const location = thread.locator("li.msg.inbound", { hasText: "位置" });
  await expect(location).toContainText("位置 31.23040, 121.47370 上海市人民广场");
  await expect(location.getByRole("link", { name: "在地图中打开" })).toHaveAttribute("href", /mlat=31.2304&mlon=121.4737/);
  // In the order they happened: the follow, the text, the location.
  const texts = await thread.locator("> li").allTextContents();
  const where = ["事件：follow", "shop.example.com", "位置 31.23040"].map((t) => texts.findIndex((x) => x.includes(t)));
  expect(where[0]).toBeGreaterThanOrEqual(0);
  expect(where).toEqual([...where].sort((a, b) => a - b));
});

test("a wait turns red once past its due time, and the tag filter narrows the list", async ({ page }) => {
  const uid = String(7_000_000_000 + Math.floor(Math.random() * 1e9));
  const key = `weibo:brand:${uid}`;
  send("weibo", "brand", uid, "你们是骗子，我要举报！");
  await stored("lina", key, (c) => c.escalated && c.response_due_at !== null);
  // The page's clock is Playwright's, so that the due time can be passed without waiting.
  await page.clock.install();
  await signIn(page, "lina");
  await page.getByTestId("scope").selectOption("team:escalations");
  await page.getByRole("button", { name: /全部进行中/ }).click();
  const clock = page.locator(`li.row[data-key="${key}"]`).getByTestId("response-clock");
  await expect(clock).toHaveAttribute("data-breached", "false");
  await expect(clock).toContainText("后超时");
  await page.clock.fastForward("02:00");
  await expect(clock).toHaveAttribute("data-breached", "true");
  await expect(clock).toHaveClass(/breached/);
  await expect(clock).toContainText("已超时");
  expect(await clock.evaluate((el) => getComputedStyle(el).backgroundColor)).toBe("rgb(164, 14, 38)");

  const filter = page.getByRole("searchbox", { name: "标签" });
  await filter.fill("crisis");
  await filter.press("Enter");
  await expect(page.locator(`li.row[data-key="${key}"]`)).toBeVisible();
  const tags = await page.locator("li.row").evaluateAll((rows) =>
    rows.map((r) => Array.from(r.querySelectorAll(".tag")).map((t) => t.textContent)),
  );
  expect(tags.length).toBeGreaterThan(0);
  expect(tags.every((t) => t.includes("crisis"))).toBe(true);
  await filter.fill("no-such-tag");
  await filter.press("Enter");
  await expect(page.getByTestId("empty")).toBeVisible();
});

test("a supervisor assigns, moves, tags, clears an escalation, resolves and reopens", async ({ page }) => {
  const uid = String(8_000_000_000 + Math.floor(Math.random() * 1e9));
  const key = `weibo:brand:${uid}`;
  send("weibo", "brand", uid, "产品有质量问题，我要去消协投诉");
  await stored("jing", key, (c) => c.escalated);
  await signIn(page, "jing");
  await page.goto(`/#/c/${encodeURIComponent(key)}`);
  const conv = page.getByTestId("conversation");
  const now = async () => (await deskApi("jing", "GET", path(key))).body;

  await conv.getByRole("combobox", { name: /^处理人/ }).selectOption("lina");
  await expect.poll(async () => (await now()).assignee).toBe("lina");
  await conv.getByRole("combobox", { name: /^团队/ }).selectOption("weibo-care");
  await expect.poll(async () => (await now()).team).toBe("weibo-care");
  await conv.getByRole("textbox", { name: "添加标签" }).fill("quality");
  await conv.getByRole("textbox", { name: "添加标签" }).press("Enter");
  await expect(conv.locator(".tags .tag", { hasText: "quality" })).toBeVisible();
  await conv.getByRole("button", { name: "移除标签 crisis" }).click();
  await expect.poll(async () => (await now()).tags).toEqual(["quality"]);
  await conv.getByRole("button", { name: "解除升级" }).click();
  await expect(conv.getByTestId("escalated")).toHaveCount(0);
  expect((await now()).escalated).toBe(false);
  await conv.getByRole("button", { name: "解决", exact: true }).click();
  await expect(conv.getByTestId("status")).toHaveText("已解决");
  await conv.getByRole("button", { name: "重新打开" }).click();
  await expect(conv.getByTestId("status")).toHaveText("进行中");
  expect((await now()).status).toBe("open");
  // Each change is in the audit trail, by the supervisor.
  const audit = (await deskApi("jing", "GET", `${path(key)}/audit`)).body.items;
  expect(audit.length).toBeGreaterThanOrEqual(7);
  expect(new Set(audit.map((a: any) => a.actor))).toEqual(new Set(["agent:jing"]));
});

test("the desk can be worked from the keyboard alone", async ({ page }) => {
  const openid = unique("oKeys");
  const key = `wechat:demo:${openid}`;
  send("wechat", "demo", openid, "键盘操作测试");
  await stored("lina", key);
  // Hers, so that it is on the first page of her queue whatever else waits.
  await assignTo("lina", key);
  await page.goto("/");
  // The form is drawn once /config.json is read: keys pressed before would go nowhere.
  await expect(page.getByRole("button", { name: "登录" })).toBeVisible();
  await page.keyboard.press("Tab"); // the user name field comes first
  await page.keyboard.type("lina");
  await page.keyboard.press("Tab");
  await page.keyboard.type("Demo-lina-2026!");
  await page.keyboard.press("Enter");
  await expect(page.getByTestId("who")).toBeVisible();
  const tabTo = async (target: ReturnType<typeof page.locator>) => {
    for (let i = 0; i < 60 && !(await target.evaluate((el) => el === document.activeElement)); i++) {
      await page.keyboard.press("Tab");
    }
    await expect(target).toBeFocused();
  };
  // The scope: the team, chosen with the arrow keys; then the queue "mine", with Enter.
  const scope = page.getByTestId("scope");
  await tabTo(scope);
  for (let i = 0; i < 6 && (await scope.inputValue()) !== "team:wechat-care"; i++) await page.keyboard.press("ArrowDown");
  await expect(scope).toHaveValue("team:wechat-care");
  await tabTo(page.getByRole("button", { name: /^我的/ }));
  await page.keyboard.press("Enter");
  const link = page.locator(`li.row[data-key="${key}"] a`);
  await expect(link).toBeVisible();
  // Tab reaches the row's link, and Enter opens it; Tab reaches the reply box.
  await tabTo(link);
  await page.keyboard.press("Enter");
  await expect(page.getByTestId("conversation").getByRole("heading", { name: openid })).toBeVisible();
  await tabTo(page.getByTestId("composer"));
  await page.keyboard.type("好的，马上处理");
  await page.keyboard.press("Control+Enter");
  await expect(page.getByTestId("composer")).toHaveValue("");
  await expect(page.getByTestId("pending-reply").or(page.locator('li.msg.agent[data-type="outbound"]', { hasText: "马上处理" }))).toBeVisible();
});
