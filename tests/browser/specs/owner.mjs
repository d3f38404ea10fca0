// The owner's review and access management on the demo business: the
// dashboard's SVG charts and range presets, the business-intelligence page's
// sections and recommendations, creating a technician who then signs in, an
// API token shown once and usable as a bearer token, and "sign out everyone
// else" ending the technician's session but not the owner's. Screenshots of
// each page at phone and desktop size.
import { PHONE } from "../lib.mjs";

export default async function (t) {
  const { assert } = t;
  const page = await t.as("owner");
  page.on("dialog", (d) => d.accept()); // data-confirm forms

  // Dashboard: three charts with bars, accessible names, a table fallback.
  await page.goto("/dashboard");
  for (const id of ["revenue-chart", "jobs-chart", "margin-chart"]) {
    const svg = page.getByTestId(id);
    await svg.waitFor();
    assert.equal(await svg.getAttribute("role"), "img", id);
    assert.ok((await svg.getAttribute("aria-label")).length > 20, `${id} has an accessible summary`);
  }
  assert.ok(await page.getByTestId("jobs-chart").locator("rect.bar").count() >= 3, "status bars");
  await page.getByRole("link", { name: "Last 12 months" }).click();
  await page.waitForURL(/range=12m/);
  const revenueBars = await page.getByTestId("revenue-chart").locator("rect.bar").count();
  assert.ok(revenueBars >= 20, `revenue and cost bars for 12 months, got ${revenueBars}`);
  assert.ok(await page.getByTestId("margin-chart").locator("rect.bar").count() >= 3, "margin bars");
  assert.equal(await page.getByRole("link", { name: "Last 12 months" }).getAttribute("aria-current"), "true");
  const details = page.locator("section[aria-labelledby=h-revenue] details");
  await details.locator("summary").click();
  assert.equal(await details.locator("tbody tr").count(), 12, "12 months in the table");
  for (const id of ["total-revenue", "jobs-completed", "profit-margin", "efficiency"]) {
    await page.getByTestId(id).waitFor();
  }
  await t.shotBoth(page, "/dashboard?range=12m", "owner-dashboard");

  // Business intelligence: every section and at least one recommendation.
  await page.goto("/business-intelligence");
  for (const id of ["ai-insights", "profitability-analysis", "equipment-utilization", "employee-performance", "ai-recommendations"]) {
    await page.getByTestId(id).waitFor();
  }
  const recs = page.getByTestId("recommendation-item");
  assert.ok(await recs.count() >= 1, "at least one recommendation");
  assert.match(await recs.first().innerText(), /Why:/);
  assert.ok(await page.getByTestId("profitability-analysis").locator("tbody tr").count() >= 20);
  assert.ok(await page.getByTestId("equipment-utilization").locator("meter").count() >= 10);
  await t.shotBoth(page, "/business-intelligence", "insights");

  // Create a technician; they sign in.
  const email = `spec.tech.${Date.now()}@example.com`;
  await page.goto("/admin/users");
  await page.getByTestId("add-user").click();
  await page.getByLabel("Name").fill("Sam Spec");
  await page.getByLabel(/^E-mail/).fill(email);
  await page.getByLabel("Role").selectOption("technician");
  await page.getByLabel(/^Initial password/).fill(t.password);
  await page.getByLabel("Password again").fill(t.password);
  await Promise.all([page.waitForURL(/\/admin\/users\/[0-9a-f-]{36}$/), page.getByTestId("create-user").click()]);
  assert.match(await t.text(page, "flash"), /can now sign in/);
  assert.equal(await t.text(page, "user-status"), "Active");
  await t.shotBoth(page, "/admin/users", "admin-users");

  const tech = await t.newPage(PHONE);
  // Sign in through the form (straight to a page every role has).
  await tech.goto("/login?next=/account/password");
  await tech.getByTestId("email").fill(email);
  await tech.getByTestId("password").fill(t.password);
  await Promise.all([tech.waitForURL(/\/account\/password$/), tech.getByTestId("login-button").click()]);
  assert.match(await tech.locator(".who .role").innerText(), /technician/i);
  const me = await tech.evaluate(() => fetch("/api/v1/me").then((r) => r.json()));
  assert.equal(me.email, email);
  assert.equal(me.role, "technician");
  await tech.goto("/admin/users");
  assert.match(await tech.locator("h1").innerText(), /Not allowed/);
  t.forgiveErrors((e) => e.includes("403"));

  // An API token: shown once, works as a bearer token.
  await page.goto("/admin/tokens");
  await page.getByTestId("token-name").fill("spec integration");
  await page.getByTestId("create-token").click();
  const secret = await page.getByTestId("new-token").inputValue();
  assert.match(secret, /^qt_/);
  const viaToken = await page.request.get("/api/v1/me", { headers: { Authorization: `Bearer ${secret}` } });
  assert.equal(viaToken.status(), 200);
  assert.equal((await viaToken.json()).authMethod, "token");
  await page.goto("/admin/tokens");
  assert.equal(await page.getByTestId("new-token").count(), 0, "shown only once");
  assert.ok((await page.content()).indexOf(secret) < 0);
  await t.shotBoth(page, "/admin/tokens", "admin-tokens");

  // Sessions: sign out everyone else; the technician is out, the owner stays.
  await page.goto("/admin/sessions");
  assert.ok(await page.getByTestId("session-row").count() >= 2);
  await t.shotBoth(page, "/admin/sessions", "admin-sessions");
  await Promise.all([page.waitForURL(/\/admin\/sessions$/), page.getByTestId("revoke-all-sessions").click()]);
  assert.match(await t.text(page, "flash"), /other session/);
  assert.equal(await page.getByTestId("session-row").count(), 1, "only this browser is left");
  await tech.goto("/account/password");
  assert.match(tech.url(), /\/login/, "the technician was signed out");
  await page.goto("/admin/users");
  assert.equal(new URL(page.url()).pathname, "/admin/users", "the owner is still signed in");
}
