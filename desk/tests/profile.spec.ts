// Who the customer is, at the desk, through the real path: the platform stand-ins hold the
// customers' profiles (Weibo users/show, WeChat user/info), the router asks for them on the
// first message, the media-fetcher stores them on the conversation, and the desk shows them:
// a 150,000-follower verified Weibo customer as an opinion leader (意见领袖), prioritised by
// the shipped rule; a WeChat follower by the operator's remark (WeChat gives no nickname).
import { expect, test } from "@playwright/test";
import { crmContact, deskApi, screenshot, send, signIn, stored, unique } from "./stack";

async function profile(channel: "wechat" | "weibo", id: string, answer: object) {
  const res = await fetch(`${process.env.GATEWAY_STUB_URL}/admin/profile`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ channel, id, answer }),
  });
  expect(res.status).toBe(200);
}

test("an opinion leader's profile and badge show in Chinese and English", async ({ page }) => {
  const uid = String(6_000_000_000 + Math.floor(Math.random() * 1e9));
  const key = `weibo:brand:${uid}`;
  await profile("weibo", uid, {
    screen_name: "财经观察家",
    followers_count: 150000,
    verified: true,
    verified_reason: "知名财经博主",
  });
  send("weibo", "brand", uid, "你们的新品质量太差了");
  // The profile arrives after the first message; the shipped rule then escalates it.
  // Team vip-care: the supervisor jing sees it (the agent lina's teams do not include it).
  await stored("jing", key, (c) => c.profile !== null && c.opinion_leader && c.escalated);
  const c = (await deskApi("jing", "GET", `/conversations/${encodeURIComponent(key)}`)).body;
  expect(c.team).toBe("vip-care");
  expect(c.tags).toContain("opinion_leader");
  expect(c.display_name).toBe("财经观察家");

  await signIn(page, "jing");
  await page.goto(`/#/c/${encodeURIComponent(key)}`);
  const conv = page.getByTestId("conversation");
  await expect(conv.getByTestId("customer-name")).toHaveText("财经观察家");
  await expect(conv.getByTestId("opinion-leader")).toHaveText("意见领袖");
  await expect(conv.getByTestId("escalated")).toBeVisible();
  const panel = conv.getByTestId("profile");
  await expect(panel.getByTestId("profile-followers")).toHaveText((150000).toLocaleString());
  await expect(panel.getByTestId("profile-verified")).toContainText("已认证");
  await expect(panel.getByTestId("profile-verified")).toContainText("知名财经博主");
  await screenshot(page, "conversation-profile");

  await page.getByRole("button", { name: "English" }).click();
  await expect(conv.getByTestId("opinion-leader")).toHaveText("Opinion leader");
  await expect(panel.getByTestId("profile-verified")).toContainText("Verified");
  await page.getByRole("button", { name: "中文" }).click();
});

test("a WeChat follower is shown by the operator's remark, with language and unionid", async ({ page }) => {
  const openid = unique("oVip");
  const key = `wechat:demo:${openid}`;
  await profile("wechat", openid, {
    subscribe: 1,
    language: "en",
    subscribe_time: 1700000000,
    remark: "VIP 张先生",
    tagid_list: [2, 105],
    unionid: "uUnionDesk",
    subscribe_scene: "ADD_SCENE_QR_CODE",
  });
  send("wechat", "demo", openid, "你好，我想咨询一下");
  await stored("lina", key, (c) => c.profile !== null);

  await signIn(page, "lina");
  await page.goto(`/#/c/${encodeURIComponent(key)}`);
  const conv = page.getByTestId("conversation");
  await expect(conv.getByTestId("customer-name")).toHaveText("VIP 张先生");
  await expect(conv.getByTestId("opinion-leader")).toHaveCount(0);
  const panel = conv.getByTestId("profile");
  await expect(panel.getByTestId("profile-remark")).toHaveText("VIP 张先生");
  await expect(panel.getByTestId("profile-language")).toHaveText("en");
  await expect(panel.getByTestId("profile-unionid")).toHaveText("uUnionDesk");
  await expect(panel).toContainText("ADD_SCENE_QR_CODE");
  await expect(panel).toContainText("2, 105");
});

test("the company CRM's name for a WeChat follower comes before the remark, with a link to its record", async ({ page }) => {
  const openid = unique("oCrm");
  const unionid = unique("uCrm");
  const key = `wechat:demo:${openid}`;
  await profile("wechat", openid, { subscribe: 1, language: "zh_CN", remark: "老客户", unionid });
  send("wechat", "demo", openid, "我的退款到账了吗");
  await stored("lina", key, (c) => c.profile !== null);
  await crmContact("PUT", "demo", unionid, {
    name: "张伟",
    external_id: "CRM-88",
    url: "https://crm.example.com/contacts/88",
  });
  await stored("lina", key, (c) => c.display_name === "张伟");

  await signIn(page, "lina");
  await page.goto(`/#/c/${encodeURIComponent(key)}`);
  const conv = page.getByTestId("conversation");
  await expect(conv.getByTestId("customer-name")).toHaveText("张伟");
  const panel = conv.getByTestId("profile");
  await expect(panel.getByTestId("crm-name")).toHaveText("张伟");
  await expect(panel.getByTestId("crm-link")).toHaveText("CRM-88");
  await expect(panel.getByTestId("crm-link")).toHaveAttribute("href", "https://crm.example.com/contacts/88");
  await expect(panel.getByTestId("crm-link")).toHaveAttribute("rel", "noopener noreferrer");
  await expect(panel.getByTestId("profile-remark")).toHaveText("老客户");
  await screenshot(page, "conversation-crm-name");

  // The CRM forgets the customer: the desk shows the remark again.
  await crmContact("DELETE", "demo", unionid);
  await page.reload();
  await expect(conv.getByTestId("customer-name")).toHaveText("老客户");
  await expect(panel.getByTestId("crm-name")).toHaveCount(0);
});
