// An agent's day: a WeChat message that just arrived appears without reloading, is answered
// with a canned response, and the platform stand-in receives it; a Weibo crisis complaint
// appears escalated with a running countdown, is taken, answered and resolved, and the
// supervisor's dashboard counts it.
import { expect, test } from "@playwright/test";
import { cspViolations, deskApi, platformRequests, screenshot, send, signIn, stored, unique } from "./stack";

test("a WeChat message appears without reloading and is answered with a canned response", async ({ page }) => {
  const greeting = { title: "问候", text: "您好，我是{{agent_name}}，很高兴为您服务。", accounts: ["wechat:demo"] };
  const created = await deskApi("jing", "POST", "/canned-responses", { id: "browser-greeting", ...greeting });
  expect([201, 409]).toContain(created.status);
  await signIn(page, "lina");
  await page.getByTestId("scope").selectOption("team:wechat-care");
  await page.getByRole("button", { name: /未回复/ }).click();
  await expect(page.getByTestId("rows").or(page.getByTestId("empty"))).toBeVisible();
  const navigations: string[] = [];
  page.on("framenavigated", (f) => f === page.mainFrame() && navigations.push(f.url()));

  const unanswered = page.getByTestId("count-unanswered");
  await expect(unanswered).toHaveText(/^\d+$/);
  const waitingBefore = Number(await unanswered.textContent());
  const openid = unique("oBrowser");
  const key = `wechat:demo:${openid}`;
  send("wechat", "demo", openid, "你好，我想修改收货地址，订单 20261206-0042");
  await stored("lina", key);
  // Stored: the desk shows it at its next refresh (every 3 s), without a reload.
  const row = page.locator(`li.row[data-key="${key}"]`);
  await expect(row).toBeVisible({ timeout: 5_000 });
  // The bot's out-of-hours acknowledgement is the latest message; the customer still waits
  // for a person.
  await expect(row.locator(".badge.unanswered")).toHaveText("未回复");
  await expect(row.locator(".badge.channel-wechat")).toHaveText("微信");
  await expect(unanswered).toHaveText(String(waitingBefore + 1));
  expect(navigations.filter((u) => !u.includes("#"))).toEqual([]);
  await screenshot(page, "inbox");

  await row.getByRole("link").click();
  const conv = page.getByTestId("conversation");
  await expect(conv.getByRole("heading", { name: openid })).toBeVisible();
  await expect(conv.getByTestId("reply-window")).toContainText(/微信：可在 .* 前回复/);
  await expect(conv.locator("li.msg.inbound")).toContainText("修改收货地址");

  const composer = conv.getByTestId("composer");
  await composer.click();
  await page.keyboard.press("Control+/");
  await page.getByRole("searchbox", { name: "搜索快捷回复" }).fill("问候");
  await expect(page.getByRole("listbox", { name: "快捷回复" }).getByRole("option").first()).toContainText("您好，我是李娜");
  await page.keyboard.press("Enter");
  await expect(composer).toHaveValue("您好，我是李娜，很高兴为您服务。");
  await expect(conv.getByTestId("counter")).toContainText("/");
  await screenshot(page, "conversation");
  await page.keyboard.press("Control+Enter");
  await expect(composer).toHaveValue("");

  // Delivered: it joins the thread as the agent's reply, and the stand-in got it.
  const mine = conv.locator('li.msg.agent[data-type="outbound"]', { hasText: "您好，我是李娜" });
  await expect(mine).toBeVisible({ timeout: 30_000 });
  await expect(mine).toContainText("坐席 lina");
  const received = await platformRequests();
  const sent = received.wechat.messages.filter((m: any) => m.body?.touser === openid && m.accepted);
  expect(sent.map((m: any) => m.body.text?.content)).toContain("您好，我是李娜，很高兴为您服务。");
  await expect(conv.getByText("已回复").first()).toBeVisible();
});

test("a Weibo crisis is escalated with a running countdown, taken, answered, resolved and counted", async ({ browser }) => {
  const supContext = await browser.newContext();
  const agentContext = await browser.newContext();
  const sup = await supContext.newPage();
  // The plots and the app run under the deployed policy (desk/serve.mjs sends it).
  const refused = cspViolations(sup);
  await signIn(sup, "jing");
  await sup.getByRole("link", { name: "数据看板" }).click();
  await sup.getByTestId("dash-account").selectOption("weibo:brand");
  await expect(sup.getByTestId("dashboard")).toHaveAttribute("data-shown", "weibo:brand|");
  const figure = (id: string) => sup.getByTestId(`kpi-${id}`);
  await expect(figure("inbound")).toHaveText(/^\d+$/);
  const before = {
    inbound: Number(await figure("inbound").textContent()),
    escalations: Number(await figure("escalations").textContent()),
    resolved: Number(await figure("resolved").textContent()),
  };

  const page = await agentContext.newPage();
  await signIn(page, "lina");
  await page.getByTestId("scope").selectOption("team:escalations");
  await page.getByRole("button", { name: /已升级/ }).click();
  const uid = String(5_000_000_000 + Math.floor(Math.random() * 1e9));
  const key = `weibo:brand:${uid}`;
  send("weibo", "brand", uid, "刚买的耳机就坏了，客服不理人，我要投诉到消费者协会！");
  await stored("lina", key, (c) => c.escalated);

  const row = page.locator(`li.row[data-key="${key}"]`);
  await expect(row).toBeVisible({ timeout: 5_000 });
  await expect(row).toHaveAttribute("data-escalated", "true");
  await expect(row.getByText("已升级")).toBeVisible();
  const clock = row.getByTestId("response-clock");
  const first = await clock.textContent();
  await expect(clock).not.toHaveText(first!, { timeout: 3_000 });
  await screenshot(page, "inbox-crisis");

  // Take next: the most urgent unassigned conversation of lina's teams is this one.
  await page.getByRole("button", { name: "领取下一个" }).click();
  const conv = page.getByTestId("conversation");
  await expect(conv.getByRole("heading", { name: uid })).toBeVisible();
  await expect(conv.getByTestId("escalated")).toBeVisible();
  await conv.getByTestId("composer").fill("非常抱歉，已为您登记换货，稍后专员联系您。");
  await page.keyboard.press("Control+Enter");
  await expect(conv.locator('li.msg.agent[data-type="outbound"]', { hasText: "已为您登记换货" })).toBeVisible({ timeout: 30_000 });
  const weibo = (await platformRequests()).weibo.replies.filter((r: any) => r.receiver_id === uid).map((r: any) => String(r.data));
  expect(weibo.some((d: string) => d.includes("已为您登记换货"))).toBe(true);

  await conv.getByRole("button", { name: "解决", exact: true }).click();
  await expect(conv.getByTestId("status")).toHaveText("已解决");
  await expect(conv.getByRole("button", { name: "重新打开" })).toBeVisible();

  // The supervisor's figures follow (the statistics are written from the table's stream).
  await expect
    .poll(async () => {
      await sup.reload();
      await expect(sup.getByTestId("dashboard")).toHaveAttribute("data-shown", "weibo:brand|");
      return {
        inbound: Number(await figure("inbound").textContent()) - before.inbound,
        escalations: Number(await figure("escalations").textContent()) - before.escalations,
        resolved: Number(await figure("resolved").textContent()) - before.resolved,
      };
    }, { timeout: 45_000, intervals: [2_000] })
    .toEqual({ inbound: 1, escalations: 1, resolved: 1 });
  // Plotted, and her first response and resolution are hers in the table by agent.
  await expect(sup.locator("figure.chart")).toHaveCount(3);
  const hers = sup.getByTestId("table-agents").locator("tr", { has: sup.locator('th:text-is("lina")') });
  await expect(hers).toBeVisible();
  expect(Number(await hers.locator("td").nth(0).textContent())).toBeGreaterThanOrEqual(1);
  expect(Number(await hers.locator("td").nth(2).textContent())).toBeGreaterThanOrEqual(1);
  await screenshot(sup, "dashboard", true);
  expect(refused).toEqual([]);
  await Promise.all([supContext.close(), agentContext.close()]);
});
