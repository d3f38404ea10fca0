// Sign-in: the login form's test ids, landing on /dashboard with the
// dashboard's figures, a wrong password refused, sign-out, and a form posted
// without its CSRF token refused.
export default async function (t) {
  const { assert } = t;
  const page = await t.newPage();
  await page.goto("/dashboard");
  assert.match(page.url(), /\/login\?next=(%2F|\/)dashboard$/, "signed-out visit goes to the login page");
  await t.shotBoth(page, "/login", "login");

  // Wrong password: an error, still on /login.
  await page.getByTestId("email").fill(t.user("owner").email);
  await page.getByTestId("password").fill("not the password");
  await page.getByTestId("login-button").click();
  await page.getByTestId("login-error").waitFor();
  t.forgiveErrors((e) => e.includes("401"));

  await t.login(page, t.user("owner"));
  assert.equal(new URL(page.url()).pathname, "/dashboard");
  for (const id of ["total-revenue", "jobs-completed", "profit-margin", "efficiency"]) {
    await page.getByTestId(id).waitFor();
  }
  assert.match(await t.text(page, "total-revenue"), /^Total Revenue: \$[\d.]+[KM]?$/);
  assert.match(await t.text(page, "profit-margin"), /^Profit Margin: -?\d+%$/);
  assert.match(await t.text(page, "jobs-completed"), /^Jobs Complete: [\d,]+$/);
  assert.match(await t.text(page, "efficiency"), /^Efficiency: \d+%$/);
  await t.shotBoth(page, "/dashboard", "dashboard");

  // A form without its CSRF token is refused and changes nothing.
  await page.evaluate(() => document.querySelectorAll('form[action="/logout"] input[name="_csrf"]').forEach((i) => i.remove()));
  await page.getByTestId("logout-button").click();
  await page.waitForLoadState();
  assert.match(await page.locator("h1").innerText(), /expired/i);
  t.forgiveErrors((e) => e.includes("403"));
  await page.goto("/dashboard");
  assert.equal(new URL(page.url()).pathname, "/dashboard", "still signed in");

  // Sign out for real.
  await page.getByTestId("logout-button").click();
  await page.waitForURL(/\/login/);
  await page.goto("/dashboard");
  assert.match(page.url(), /\/login/);
}
