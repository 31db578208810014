// Template messages at the desk: once a WeChat follower's 48-hour window has closed, the
// composer offers a template message instead of a reply that would fail; the agent fills the
// template id, its fields and a link; it reaches WeChat's message/template/send, and the
// thread shows it with what WeChat reported (accepted, then delivered or blocked).
import { expect, test } from "@playwright/test";
import { platformRequests, screenshot, sendLate, sendTemplateFinish, signIn, stored, unique } from "./stack";

async function templatesTo(openid: string): Promise<any[]> {
  const got = await platformRequests();
  return (got.wechat.templates ?? []).filter((r: any) => r.body?.touser === openid && r.accepted);
}

for (const [status, shown] of [
  ["success", "已送达"],
  ["failed:user block", "客户已屏蔽，未送达"],
] as const) {
  test(`after the window a template follow-up is sent and its report shown (${status})`, async ({ page }) => {
    const openid = unique("oLate");
    const key = `wechat:demo:${openid}`;
    sendLate("demo", openid, "我的退款到账了吗？");
    await stored("lina", key);

    await signIn(page, "lina");
    await page.goto(`/#/c/${encodeURIComponent(key)}`);
    const conv = page.getByTestId("conversation");
    // The window has closed: the reply box is off, a template message is offered.
    await expect(conv.getByTestId("reply-window")).toContainText("回复窗口已关闭");
    await expect(conv.getByTestId("composer")).toBeDisabled();
    await expect(conv.getByTestId("template-offer")).toBeVisible();
    await conv.getByTestId("template-open").click();

    const form = conv.getByTestId("template-form");
    await form.getByTestId("template-id").fill("ngqIpbwh8bUfcSsECmogfXcV14J0tQlEpBO27izEYtY");
    await form.getByTestId("template-value").first().fill("您的退款已处理");
    await form.getByTestId("template-add").click();
    await form.getByTestId("template-key").nth(1).fill("keyword1");
    await form.getByTestId("template-value").nth(1).fill("¥99.00");
    await form.getByTestId("template-url").fill("https://example.com/refunds/42");
    await screenshot(page, "conversation-template");
    await form.getByTestId("template-send").click();

    // WeChat got the documented body.
    await expect.poll(async () => (await templatesTo(openid)).length, { timeout: 30_000 }).toBe(1);
    const [sent] = await templatesTo(openid);
    expect(sent.body.template_id).toBe("ngqIpbwh8bUfcSsECmogfXcV14J0tQlEpBO27izEYtY");
    expect(sent.body.data).toEqual({ first: { value: "您的退款已处理" }, keyword1: { value: "¥99.00" } });
    expect(sent.body.url).toBe("https://example.com/refunds/42");
    expect(typeof sent.body.client_msg_id).toBe("string");

    // The thread shows it as a template message, accepted by WeChat…
    const item = conv.getByTestId("template-message");
    await expect(item).toBeVisible({ timeout: 30_000 });
    await expect(item).toContainText("您的退款已处理");
    await expect(item.getByTestId("template-delivery")).toHaveText("已提交微信，等待送达结果");
    // …then with WeChat's report.
    sendTemplateFinish("demo", openid, String(sent.msgid), status);
    await expect(item.getByTestId("template-delivery")).toHaveText(shown, { timeout: 30_000 });
  });
}
