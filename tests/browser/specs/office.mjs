// Office pages against the demo business: instant customer search as you
// type; a customer named <script>alert(1)</script> is created through the
// form and shown as text (no dialog ever opens); a payment recorded on a
// sent invoice lowers its balance; a lead is converted into a draft work
// order. Screenshots of every office page at phone and desktop sizes.
const XSS = "<script>alert(1)</script>";

/** "$1,234.56" → 123456 (cents). */
function cents(text) {
  const m = text.replace(/[$,\s]/g, "").match(/^(-?)(\d+)\.(\d\d)$/);
  if (!m) { throw new Error(`not an amount: ${text}`); }
  return (m[1] ? -1 : 1) * (Number(m[2]) * 100 + Number(m[3]));
}

export default async function (t) {
  const { assert } = t;
  const page = await t.as("office");
  const dialogs = [];
  page.on("dialog", async (d) => { dialogs.push(d.message()); await d.dismiss(); });

  // --- Instant search: results change while typing, without a page load.
  await page.goto("/customers");
  const before = await t.text(page, "pager-count");
  const firstName = (await page.getByTestId("customer-link").first().innerText()).trim();
  const word = firstName.split(/\s+/).filter((w) => /^[A-Za-z]{3,}$/.test(w)).pop() || firstName.split(/\s+/)[0];
  await page.evaluate(() => { window.__sameDocument = true; });
  await page.getByTestId("customer-search").pressSequentially(word.slice(0, 5), { delay: 40 });
  await page.waitForFunction((before) => {
    const c = document.querySelector('[data-testid="pager-count"]');
    return c && c.textContent.trim() !== before;
  }, before);
  assert.equal(await page.evaluate(() => window.__sameDocument), true, "the page was not reloaded");
  const names = (await page.getByTestId("customer-link").allInnerTexts()).map((s) => s.trim());
  assert.ok(names.includes(firstName), `${firstName} is among the results for "${word.slice(0, 5)}": ${names}`);
  assert.match(page.url(), /[?&]q=/, "the address keeps the search");
  assert.match(await t.text(page, "pager-count"), /of [\d,]+ customers/);
  await t.shotBoth(page, page.url(), "customers");

  // --- A hostile name is just text.
  await page.goto("/customers");
  await page.getByTestId("new-customer-button").click();
  await page.waitForURL(/\/customers\/new$/);
  await t.shotBoth(page, "/customers/new", "customer-new");
  await page.getByTestId("customer-name-input").fill(XSS);
  await page.getByLabel("Phone").fill("555-010-9999");
  await page.getByLabel("Street and number").fill("1 Test Street");
  await page.getByLabel("City").fill("Springfield");
  await Promise.all([page.waitForURL(/\/customers\/[0-9a-f-]{36}$/), page.getByTestId("save-customer").click()]);
  assert.equal(await t.text(page, "customer-heading"), XSS);
  assert.equal(await page.locator("script:not([src])").count(), 0, "no inline script made it into the page");
  const customerUrl = new URL(page.url()).pathname;
  await page.goto("/customers?q=alert");
  const found = (await page.getByTestId("customer-link").allInnerTexts()).map((s) => s.trim());
  assert.ok(found.includes(XSS), `the list shows the name as text: ${found}`);
  await page.waitForTimeout(300);
  assert.deepEqual(dialogs, [], "no dialog opened");
  await t.shotBoth(page, customerUrl, "customer-inert");
  await t.shotBoth(page, customerUrl + "/edit", "customer-edit");

  // --- Record a payment on a sent invoice: the balance drops.
  await page.goto("/invoices?status=sent");
  await t.shotBoth(page, "/invoices", "invoices");
  await page.goto("/invoices?status=sent");
  await Promise.all([page.waitForURL(/\/invoices\/[0-9a-f-]{36}$/), page.getByTestId("invoice-link").first().click()]);
  const invoiceUrl = new URL(page.url()).pathname;
  assert.match(await page.getByTestId("invoice-status").innerText(), /sent/i);
  await page.getByTestId("print-invoice").waitFor();
  const balance = cents(await t.text(page, "invoice-balance"));
  assert.ok(balance > 1000, `a balance to pay: ${balance}`);
  await page.getByTestId("payment-amount").fill("10.00");
  await page.getByTestId("payment-method").selectOption("cash");
  await Promise.all([page.waitForURL((u) => u.pathname === invoiceUrl), page.getByTestId("record-payment").click()]);
  await page.getByTestId("flash").waitFor();
  assert.equal(cents(await t.text(page, "invoice-balance")), balance - 1000, "the balance dropped by $10.00");
  assert.match(await t.text(page, "flash"), /Payment of \$10\.00 recorded/);
  assert.ok((await page.getByTestId("payment-row").allInnerTexts()).some((r) => /cash/.test(r) && /\$10\.00/.test(r)));
  await t.shotBoth(page, invoiceUrl, "invoice");
  // The billed customer: a demo customer with history and profitability.
  const billed = await page.locator(".bill-to a").first().getAttribute("href");
  await page.goto(billed);
  assert.match(await t.text(page, "lifetime-value"), /^\$[\d,]+\.\d\d$/);
  assert.ok(await page.locator('[data-testid="customer-work-orders"] tbody tr').count() >= 1, "work-order history");
  await t.shotBoth(page, billed, "customer");

  // --- Convert a lead.
  await page.goto("/leads");
  await t.shotBoth(page, "/leads", "leads");
  await page.goto("/leads?status=new");
  const row = page.getByTestId("lead-row").first();
  const leadName = (await row.locator("th a").innerText()).trim();
  await Promise.all([page.waitForURL(/\/leads\/[0-9a-f-]{36}$/), row.getByTestId("convert-lead").click()]);
  await page.getByTestId("lead-converted").waitFor();
  assert.match(await page.getByTestId("lead-work-order").innerText(), /^WO-\d{6}$/);
  assert.match(await t.text(page, "flash"), /Converted: draft work order WO-\d{6}/);
  assert.match(await page.getByTestId("lead-status").innerText(), /converted/i);
  const leadUrl = new URL(page.url()).pathname;
  await page.goto("/leads?status=converted");
  assert.ok((await page.getByTestId("lead-row").allInnerTexts()).some((r) => r.includes(leadName)), `${leadName} is under Converted`);
  await t.shotBoth(page, leadUrl, "lead");
  await t.shotBoth(page, "/leads/new", "lead-new");

  // --- The other office pages, at both sizes.
  await t.shotBoth(page, "/equipment", "equipment");
  const eq = await page.locator('[data-testid="equipment-row"] th a').first().getAttribute("href");
  await t.shotBoth(page, eq, "equipment-item");
  await t.shotBoth(page, "/equipment/new", "equipment-new");
  await t.shotBoth(page, "/equipment/loadouts", "loadouts");
  const lo = await page.locator('[data-testid="loadout-row"] th a').first().getAttribute("href");
  await t.shotBoth(page, lo, "loadout");
  await t.shotBoth(page, "/employees", "employees");
  const emp = await page.locator('[data-testid="employee-row"] th a').first().getAttribute("href");
  await t.shotBoth(page, emp, "employee");
  await t.shotBoth(page, "/employees/new", "employee-new");
  await t.shotBoth(page, "/follow-ups", "follow-ups");

  // --- Mark an overdue follow-up done, from a phone.
  await page.setViewportSize({ width: 360, height: 740 });
  await page.goto("/follow-ups?show=overdue");
  const fu = page.getByTestId("follow-up-row").first();
  const customer = (await fu.locator("td a").first().innerText()).trim();
  const customerId = (await fu.locator("td a").first().getAttribute("href")).split("/").pop();
  await fu.getByTestId("follow-up-done-open").click();
  await fu.getByTestId("follow-up-note").fill("Called; all good");
  await Promise.all([page.waitForURL(/\/follow-ups\?show=overdue$/), fu.getByTestId("follow-up-done").click()]);
  assert.match(await t.text(page, "flash"), new RegExp(`Follow-up with .* marked done`));
  await page.goto(`/follow-ups?show=done&customer_id=${customerId}`);
  assert.ok((await page.getByTestId("follow-up-row").allInnerTexts()).some((r) => r.includes(customer) && r.includes("Called; all good")));
  assert.deepEqual(dialogs, [], "no dialog opened");
}
