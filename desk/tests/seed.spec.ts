// The demo data `make up` starts with (tools/desk-seed.sh): run as make up runs it, then read
// back through the desk API. (The files run in alphabetical order on one worker: this one
// after agent.spec.ts, whose *take next* must find its own crisis the most urgent.)
import { spawnSync } from "node:child_process";
import { expect, test } from "@playwright/test";
import { deskApi } from "./stack";

const repo = new URL("../..", import.meta.url).pathname;

function seed() {
  const out = spawnSync("bash", ["tools/desk-seed.sh"], { cwd: repo, encoding: "utf8" });
  expect(out.status, `tools/desk-seed.sh:\n${out.stdout}\n${out.stderr}`).toBe(0);
}

test("make up's demo conversations and canned responses are there for the demo users", async () => {
  seed();
  const get = async (key: string) => (await deskApi("lina", "GET", `/conversations/${encodeURIComponent(key)}`)).body;
  await expect.poll(async () => (await get("weibo:brand:2489518277"))?.escalated, { timeout: 30_000 }).toBe(true);
  const crisis = await get("weibo:brand:2489518277");
  expect([crisis.team, crisis.tags]).toEqual(["escalations", ["crisis"]]);
  for (const key of ["wechat:demo:oDemoZhaoLei", "wechat:demo:oDemoSunLi", "weibo:brand:1899002233", "wechat:demo:oDemoLiuYang"]) {
    await expect.poll(async () => (await deskApi("lina", "GET", `/conversations/${encodeURIComponent(key)}`)).status, { timeout: 30_000 }).toBe(200);
  }
  const canned = (await deskApi("lina", "GET", `/canned-responses?conversation=${encodeURIComponent("wechat:demo:oDemoZhaoLei")}`)).body.items;
  expect(canned.map((c: any) => c.id).sort()).toEqual(expect.arrayContaining(["apology", "greeting", "shipping"]));
  expect(canned.find((c: any) => c.id === "greeting").rendered).toBe("您好，我是李娜，很高兴为您服务。");
  // A second run (make up again on the same stack) replaces the canned responses, no error.
  seed();
});
