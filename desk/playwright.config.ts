import { defineConfig } from "@playwright/test";

// The browser tests run Debian's Chromium (`apt-get install chromium`), never a downloaded
// one, against the desk that tools/desk-test.sh serves on a fresh local stack (DESK_URL).
const executablePath = process.env.CHROMIUM ?? "/usr/bin/chromium";

export default defineConfig({
  testDir: "tests",
  // One stack, one story at a time: the scenarios share the emulator's table. The files run
  // in alphabetical order (agent, desk, seed, work): agent.spec.ts's *take next* expects its
  // own crisis to be the only escalated one, so the demo data comes after it.
  workers: 1,
  fullyParallel: false,
  timeout: 90_000,
  expect: { timeout: 15_000 },
  reporter: [["list"]],
  outputDir: process.env.DESK_TEST_OUTPUT ?? "test-results",
  use: {
    baseURL: process.env.DESK_URL,
    viewport: { width: 1280, height: 800 },
    locale: "zh-CN",
    timezoneId: "Asia/Shanghai",
    trace: "retain-on-failure",
    screenshot: "only-on-failure",
    launchOptions: {
      executablePath,
      // A closed network: no background connections to Google services.
      args: [
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
        "--disable-sync",
        "--disable-gpu",
      ],
    },
  },
});
