// Helpers shared by the browser specs (see run.mjs for the environment).
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import path from "node:path";

export { assert };

export const PHONE = { width: 360, height: 740 };
export const DESKTOP = { width: 1280, height: 800 };

export function makeContext(browser, specName) {
  const base = process.env.QUANT_BASE_URL;
  const password = process.env.QUANT_PASSWORD;
  const logins = JSON.parse(process.env.QUANT_LOGINS || "[]");
  const shots = process.env.QUANT_SCREENSHOTS || "target/screenshots";
  mkdirSync(shots, { recursive: true });
  const contexts = [];
  const pageErrors = [];
  let lastPage = null;

  const ctx = {
    base, password, logins, assert,
    /** The first demo user with `role` (owner | office | technician), or the n-th. */
    user(role, n = 0) {
      const u = logins.filter((l) => l.role === role)[n];
      assert.ok(u, `no ${role} #${n} among the demo logins`);
      return u;
    },
    /** A fresh browser context (own cookies) and page at `viewport`. */
    async newPage(viewport = DESKTOP) {
      const c = await browser.newContext({ viewport, baseURL: base });
      contexts.push(c);
      const page = await c.newPage();
      page.on("pageerror", (e) => pageErrors.push(`${specName}: page error: ${e.message}`));
      page.on("console", (m) => {
        if (m.type() === "error") { pageErrors.push(`${specName}: console error: ${m.text()}`); }
      });
      lastPage = page;
      return page;
    },
    /** Signs in through the login form as `u` ({email}); lands on /dashboard or /my-day. */
    async login(page, u) {
      await page.goto("/login");
      await page.getByTestId("email").fill(u.email);
      await page.getByTestId("password").fill(password);
      await Promise.all([page.waitForURL((url) => !url.pathname.startsWith("/login")), page.getByTestId("login-button").click()]);
    },
    /** Logged-in page for the first user with `role`. */
    async as(role, viewport = DESKTOP, n = 0) {
      const page = await ctx.newPage(viewport);
      await ctx.login(page, ctx.user(role, n));
      return page;
    },
    /** Saves a screenshot of `page` as `<name>-<w>x<h>.png`. */
    async shot(page, name) {
      const vp = page.viewportSize();
      await page.screenshot({ path: path.join(shots, `${name}-${vp.width}x${vp.height}.png`), fullPage: true });
    },
    /** Opens `url` at phone and desktop sizes and screenshots both. */
    async shotBoth(page, url, name) {
      for (const vp of [PHONE, DESKTOP]) {
        await page.setViewportSize(vp);
        await page.goto(url);
        await ctx.shot(page, name);
      }
    },
    /** The trimmed text of the element with `data-testid=id`. */
    async text(page, id) {
      return (await page.getByTestId(id).first().innerText()).trim();
    },
    assertNoPageErrors() {
      assert.deepEqual(pageErrors, [], "JavaScript errors or CSP violations on the pages");
    },
    /** Allows a known, expected console error (e.g. a deliberate 403) to pass. */
    forgiveErrors(pred) {
      for (let i = pageErrors.length - 1; i >= 0; i--) { if (pred(pageErrors[i])) { pageErrors.splice(i, 1); } }
    },
    async failureShot() {
      if (lastPage && !lastPage.isClosed()) {
        await lastPage.screenshot({ path: path.join(shots, `FAILED-${specName}.png`), fullPage: true });
      }
    },
    async close() {
      for (const c of contexts.splice(0)) { await c.close(); }
    },
  };
  return ctx;
}
