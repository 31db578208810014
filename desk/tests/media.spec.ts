// Media in the desk, through the real path: the WeChat stand-in holds the customer's files,
// the webhook takes the messages, the media-fetcher stores them in the bucket, and the desk
// shows them from their presigned links under the deployed Content-Security-Policy. An agent
// attaches a picture to a reply: the stand-in receives the file, then the reply with its
// media_id.
import { expect, test } from "@playwright/test";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import {
  cspViolations,
  platformRequests,
  platformUploads,
  registerMedia,
  screenshot,
  seedMedia,
  send,
  sendWechat,
  signIn,
  stored,
  threadMedia,
  unique,
} from "./stack";

const fixture = (name: string) => new URL(`./fixtures/${name}`, import.meta.url).pathname;
const PHOTO = readFileSync(fixture("photo.png"));
const sha256 = (b: Buffer) => createHash("sha256").update(b).digest("hex");

/** An AMR-NB file: its header and 50 frames of 12.2 kbit/s (one second). */
function amr(): Buffer {
  const frame = Buffer.alloc(32);
  frame[0] = 0x3c;
  return Buffer.concat([Buffer.from("#!AMR\n"), ...Array(50).fill(frame)]);
}

/** Waits until every media record of the conversation is final (no longer pending). */
async function fetched(key: string, messages: number) {
  await expect
    .poll(async () => {
      const all = await threadMedia("lina", key);
      return all.length >= messages && all.every((m) => m.length > 0 && m.every((r: any) => r.state !== "pending"));
    }, { timeout: 60_000, intervals: [1_000] })
    .toBe(true);
}

test("a customer's photo is fetched, shown inline and opens full size", async ({ page }) => {
  const refused = cspViolations(page);
  // A message whose picture is still being fetched (its record as the router writes it before
  // the media-fetcher's) ...
  const waiting = `wechat:demo:${unique("oWaiting")}`;
  send("wechat", "demo", waiting.split(":")[2], "我发张照片给你看看");
  await stored("lina", waiting);
  seedMedia(waiting, "image", { state: "pending" });
  // ... and a photo through the real path. One media message per conversation: a second
  // message sent while the auto-reply to the first is being delivered has been seen to stay
  // pending on a loaded machine (its fetch dead-lettered as "not stored (yet) at its place in
  // the thread" although the router had stored it), which is the fetch pipeline's to fix, not
  // what the desk shows.
  const openid = unique("oPhoto");
  const key = `wechat:demo:${openid}`;
  const mediaId = unique("PIC");
  await registerMedia(mediaId, "image/png", PHOTO);
  sendWechat("demo", openid, ["--image", mediaId]);
  await expect
    .poll(async () => (await threadMedia("lina", key)).at(-1)?.[0]?.state, { timeout: 60_000 })
    .toBe("stored");
  await signIn(page, "lina");
  await page.goto(`/#/c/${encodeURIComponent(waiting)}`);
  await expect(page.getByTestId("conversation").locator("li.msg.inbound").first()).toContainText("图片 正在获取…");
  await page.goto(`/#/c/${encodeURIComponent(key)}`);
  const inbound = page.getByTestId("conversation").locator("li.msg.inbound");
  // Stored: shown from the bucket.
  const img = inbound.first().locator('[data-kind="image"] img');
  await expect(img).toBeVisible();
  await expect.poll(() => img.evaluate((i: HTMLImageElement) => i.complete && i.naturalWidth)).toBe(160);
  const src = await img.getAttribute("src");
  expect(src).toContain("X-Amz-Signature=");
  expect(new URL(src!).origin).toBe(new URL(process.env.AWS_ENDPOINT_URL!).origin);
  // The next refreshes keep the same link (the image is not fetched again).
  await page.waitForTimeout(4_000);
  expect(await img.getAttribute("src")).toBe(src);
  await screenshot(page, "conversation-media");

  // A click opens the original in a new tab: the picture itself, as a PNG.
  const [full] = await Promise.all([page.waitForEvent("popup"), img.click()]);
  await full.waitForLoadState();
  expect(await full.evaluate(() => document.contentType)).toBe("image/png");
  await full.close();
  expect(refused).toEqual([]);
});

test("voice notes, a video, an expired picture and one too large each say what they are", async ({ page }) => {
  const refused = cspViolations(page);
  // Each in a conversation of its own (see the first test).
  const customers = ["oVoice", "oVideo", "oGone", "oBig", "oMp3"].map((p) => unique(p));
  const keys = customers.map((c) => `wechat:demo:${c}`);
  const [voice, video, thumb, gone, big, mp3] = ["VOI", "VID", "THU", "OLD", "BIG", "MP3"].map((p) => unique(p));
  // A JPEG thumbnail made by the browser itself.
  await page.goto("/");
  const jpeg = await page.screenshot({ type: "jpeg", clip: { x: 0, y: 0, width: 96, height: 54 } });
  await registerMedia(voice, "audio/amr", amr());
  await registerMedia(video, "video/mp4", Buffer.concat([Buffer.from([0, 0, 0, 0x18]), Buffer.from("ftypmp42"), Buffer.alloc(4_000)]), { video: true });
  await registerMedia(thumb, "image/jpeg", jpeg);
  await registerMedia(gone, "image/png", PHOTO, { expired: true });
  await registerMedia(big, "audio/amr", Buffer.concat([amr(), Buffer.alloc(3 * 1024 * 1024)]));
  await registerMedia(mp3, "audio/mpeg", Buffer.concat([Buffer.from("ID3\x04\0\0\0\0\0\0"), Buffer.alloc(2_000)]));
  sendWechat("demo", customers[0], ["--voice", voice, "--recognition", "我的快递到哪了"]);
  sendWechat("demo", customers[1], ["--video", video, "--thumb", thumb]);
  sendWechat("demo", customers[2], ["--image", gone]);
  sendWechat("demo", customers[3], ["--voice", big]);
  sendWechat("demo", customers[4], ["--voice", mp3]);
  for (const key of keys) {
    await stored("lina", key);
    await fetched(key, 1);
  }

  await signIn(page, "lina");
  const open = async (i: number) => {
    await page.goto(`/#/c/${encodeURIComponent(keys[i])}`);
    const message = page.getByTestId("conversation").locator("li.msg.inbound").first();
    await expect(message).toBeVisible();
    return message;
  };
  // AMR: no browser plays it; a download and WeChat's speech recognition instead.
  const amrNote = await open(0);
  await expect(amrNote).toContainText("浏览器无法播放此格式（audio/amr）");
  await expect(amrNote.getByRole("link", { name: "下载" })).toHaveAttribute("href", /X-Amz-Signature=/);
  await expect(amrNote).toContainText("语音识别：我的快递到哪了");
  await expect(amrNote.locator("audio")).toHaveCount(0);
  await page.getByRole("button", { name: "English" }).click();
  await expect(amrNote).toContainText("Browsers cannot play this format (audio/amr)");
  await page.getByRole("button", { name: "中文" }).click();
  // The video with its thumbnail as poster, both from the bucket.
  const player = (await open(1)).locator("video");
  await expect(player).toHaveAttribute("src", /X-Amz-Signature=/);
  await expect(player).toHaveAttribute("poster", /\/thumb\?/);
  await expect(player).toHaveAttribute("controls", "");
  await screenshot(page, "conversation-media-video");
  const expired = await open(2);
  await expect(expired).toContainText("平台上已过期（错误码 40007）");
  await page.getByRole("button", { name: "English" }).click();
  await expect(expired).toContainText("Expired on the platform (code 40007)");
  await page.getByRole("button", { name: "中文" }).click();
  const tooLarge = await open(3);
  await expect(tooLarge).toContainText("文件过大（3 MB，上限 2 MB），未保存");
  await page.getByRole("button", { name: "English" }).click();
  await expect(tooLarge).toContainText("Too large (3 MB, limit 2 MB)");
  await page.getByRole("button", { name: "中文" }).click();
  // MP3 plays in the browser.
  const mp3Note = await open(4);
  await expect(mp3Note.locator("audio[controls]")).toHaveAttribute("src", /X-Amz-Signature=/);
  await expect(mp3Note).not.toContainText("浏览器无法播放");
  expect(refused).toEqual([]);
});

test("an agent attaches a picture: WeChat receives the file, then the reply with its media_id", async ({ page }) => {
  const openid = unique("oAttach");
  const key = `wechat:demo:${openid}`;
  send("wechat", "demo", openid, "能发一张安装示意图给我吗？");
  await stored("lina", key);
  await signIn(page, "lina");
  await page.goto(`/#/c/${encodeURIComponent(key)}`);
  const conv = page.getByTestId("conversation");
  await expect(conv.getByTestId("attach")).toBeEnabled();
  await conv.getByTestId("attach-input").setInputFiles(fixture("upload.png"));
  await expect(conv.getByTestId("pending-reply")).toContainText("图片 · upload.png");

  // The stand-in received the file as it is, then the customer-service message with its id.
  const sha = sha256(readFileSync(fixture("upload.png")));
  let mediaId = "";
  await expect
    .poll(async () => {
      const got = (await platformUploads()).filter((u) => u.sha256 === sha && u.media_id);
      mediaId = got.at(-1)?.media_id ?? "";
      return got.at(-1)?.type;
    })
    .toBe("image");
  await expect
    .poll(async () => {
      const sent = (await platformRequests()).wechat.messages.filter(
        (m: any) => m.accepted && m.body?.touser === openid && m.body?.msgtype === "image",
      );
      return sent.map((m: any) => m.body.image.media_id);
    }, { timeout: 30_000 })
    .toEqual([mediaId]);
  // Delivered: it joins the thread as her reply.
  const mine = conv.locator('li.msg.agent[data-type="outbound"]');
  await expect(mine).toContainText("已发送", { timeout: 30_000 });
  await expect(mine).toContainText("坐席 lina");
  await expect(conv.getByTestId("pending-reply")).toHaveCount(0);
  await screenshot(page, "conversation-attach");
});

test("a file WeChat does not take is refused with the reason, and Weibo offers no attachment", async ({ page }) => {
  const openid = unique("oBadFile");
  const key = `wechat:demo:${openid}`;
  send("wechat", "demo", openid, "你好");
  await stored("lina", key);
  await signIn(page, "lina");
  await page.goto(`/#/c/${encodeURIComponent(key)}`);
  const conv = page.getByTestId("conversation");
  // Called a PNG, but text: the API reads the bytes.
  await conv.getByTestId("attach-input").setInputFiles({ name: "not-a-picture.png", mimeType: "image/png", buffer: Buffer.from("just some text") });
  await expect(conv.getByTestId("send-error")).toHaveText("文件未发送：不支持的文件类型（仅支持 JPEG、PNG、GIF、AMR、MP3、MP4）");
  await expect(conv.getByTestId("pending-reply")).toHaveCount(0);

  const uid = String(6_000_000_000 + Math.floor(Math.random() * 1e9));
  const weiboKey = `weibo:brand:${uid}`;
  send("weibo", "brand", uid, "请问门店几点关门？");
  await stored("lina", weiboKey);
  await page.goto(`/#/c/${encodeURIComponent(weiboKey)}`);
  const attach = page.getByTestId("conversation").getByTestId("attach");
  await expect(attach).toBeDisabled();
  await expect(attach).toHaveAttribute("title", "微博的回复接口不支持发送图片、语音或视频");
});
