// Quant's browser-test runner: Playwright (playwright-core) driving Debian's
// Chromium against a running Quant. Started by `cargo test --test browser`,
// which launches `quant demo` and passes:
//   QUANT_BASE_URL     e.g. http://127.0.0.1:41234
//   QUANT_LOGINS       JSON [{email, role, name}] of the demo's users
//   QUANT_PASSWORD     their password
//   QUANT_SCREENSHOTS  directory for screenshots
//   CHROMIUM           browser binary (default /usr/bin/chromium)
// Usage: node run.mjs [spec ...]   (spec = file name in specs/ without .mjs;
// none = all). Exit code 0 when every spec passed, 1 otherwise.
import { chromium } from "playwright-core";
import { readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import path from "node:path";
import { makeContext } from "./lib.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const wanted = process.argv.slice(2);
const specs = (wanted.length ? wanted : readdirSync(path.join(here, "specs"))
  .filter((f) => f.endsWith(".mjs")).map((f) => f.replace(/\.mjs$/, "")).sort());

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage"],
});
let failed = 0;
for (const name of specs) {
  const started = Date.now();
  const ctx = makeContext(browser, name);
  try {
    const mod = await import(path.join(here, "specs", name + ".mjs"));
    await mod.default(ctx);
    await ctx.close();
    ctx.assertNoPageErrors();
    console.log(`ok   ${name} (${Date.now() - started} ms)`);
  } catch (e) {
    failed++;
    console.log(`FAIL ${name}: ${e && e.stack ? e.stack : e}`);
    await ctx.failureShot().catch(() => {});
    await ctx.close().catch(() => {});
  }
}
await browser.close();
console.log(`${specs.length - failed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
