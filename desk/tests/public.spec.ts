// Public replies at the desk: a customer's comment under one of the brand's Weibo posts shows
// in the thread as public, with the post's excerpt; the composer answers where the customer
// wrote (in public, 140 characters), and the reply reaches Weibo's comments/reply with the
// comment's and the post's ids.
import { expect, test } from "@playwright/test";
import { platformRequests, screenshot, sendComment, signIn, stored, weiboId } from "./stack";

test("a public comment is answered in public by default and reaches comments/reply", async ({ page }) => {
  const uid = String(7_000_000_000 + Math.floor(Math.random() * 1e9));
  const key = `weibo:brand:${uid}`;
  const ids = { comment: weiboId(), post: weiboId() };
  sendComment("brand", uid, ids, "夏季新品发布：轻薄透气系列今天上架", "这款什么时候补货？");
  await stored("lina", key);

  await signIn(page, "lina");
  await page.goto(`/#/c/${encodeURIComponent(key)}`);
  const conv = page.getByTestId("conversation");
  // The comment, marked public, with the post it is under.
  const comment = conv.locator("li.msg.inbound", { hasText: "这款什么时候补货？" });
  await expect(comment.getByTestId("public-badge")).toHaveText("公开");
  await expect(comment.getByTestId("post-excerpt")).toContainText("夏季新品发布：轻薄透气系列今天上架");

  // The composer answers in public, under the comment, within 140 characters.
  const publicMode = conv.getByRole("radio", { name: "公开回复" });
  await expect(publicMode).toBeChecked();
  await expect(conv.getByTestId("public-target")).toContainText("公开回复这条评论");
  await expect(conv.getByTestId("counter")).toContainText("/ 140");
  // A comment opens no private window: as a private message there is nothing to send, and the
  // reply window says a public reply is possible.
  await expect(conv.getByTestId("public-open")).toBeVisible();
  await conv.getByRole("radio", { name: "私信" }).check();
  await expect(conv.getByTestId("composer")).toBeDisabled();
  await publicMode.check();
  await conv.getByTestId("composer").fill("下周一补货，感谢关注！");
  await screenshot(page, "conversation-public");
  await page.keyboard.press("Control+Enter");

  // Delivered, and shown as public.
  const reply = conv.locator('li.msg.agent[data-type="outbound"]', { hasText: "下周一补货，感谢关注！" });
  await expect(reply).toBeVisible({ timeout: 30_000 });
  await expect(reply.getByTestId("public-badge")).toBeVisible();
  const calls = (await platformRequests()).weibo.comments.filter((c: any) => c.form.cid === ids.comment);
  expect(calls).toHaveLength(1);
  expect(calls[0].path).toBe("reply");
  expect(calls[0].form.id).toBe(ids.post);
  expect(calls[0].form.comment).toBe("下周一补货，感谢关注！");
  expect(calls[0].accepted).toBe(true);
});
