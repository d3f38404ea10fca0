// Work orders and the technician's day, end to end: the office creates a work
// order for a new customer (with suggestions and the live analysis), schedules
// and assigns it to a technician by name for today (a clashing booking is
// refused and shown), the technician sees it on My day, starts it, adds a
// photo, draws a signature and completes it with an actual cost → the invoice
// appears → the owner's dashboard shows one more job and more revenue; a
// technician cannot open another technician's job. Screenshots of the list,
// the new form, the work-order page, My day and the technician's job page.
import { PHONE, DESKTOP } from "../lib.mjs";

/** "Total Revenue: $1.2K" → dollars. */
function dollars(text) {
  const m = text.match(/\$(-?[\d.,]+)([KM]?)/);
  if (!m) { throw new Error(`no amount in ${text}`); }
  const n = Number(m[1].replace(/,/g, ""));
  return n * (m[2] === "K" ? 1e3 : m[2] === "M" ? 1e6 : 1);
}

async function kpis(t, page, today) {
  await page.goto(`/dashboard?from=${today}&to=${today}`);
  return {
    jobs: Number((await t.text(page, "jobs-completed")).replace(/\D/g, "")),
    revenue: dollars(await t.text(page, "total-revenue")),
  };
}

/** Screenshots of the current page (no navigation) at phone and desktop size. */
async function shotHere(t, page, name) {
  for (const vp of [PHONE, DESKTOP]) {
    await page.setViewportSize(vp);
    // The menu starts open only on wide screens (app.js), as after a load.
    await page.evaluate((wide) => { const m = document.querySelector("details.menu"); if (m) { m.open = wide; } }, vp.width >= 900);
    await t.shot(page, name);
  }
}

/** A small PNG made by the browser's canvas. */
async function png(page, colour) {
  const b64 = await page.evaluate((c) => {
    const cv = document.createElement("canvas");
    cv.width = 64; cv.height = 48;
    const x = cv.getContext("2d");
    x.fillStyle = c; x.fillRect(0, 0, 64, 48);
    x.fillStyle = "#fff"; x.fillRect(10, 10, 24, 16);
    return cv.toDataURL("image/png").split(",")[1];
  }, colour);
  return Buffer.from(b64, "base64");
}

/** Creates a draft through the form; returns its page URL and number. */
async function createOrder(page, customer, service) {
  await page.goto("/work-orders/new");
  await page.getByTestId("customer-name").fill(customer);
  await page.getByTestId("service-type").fill(service);
  await page.getByTestId("description").fill(`${service} for ${customer}`);
  await page.getByTestId("create-work-order").click();
  await page.waitForURL(/\/work-orders\/[0-9a-f-]{36}$/);
  return { url: new URL(page.url()).pathname, number: await page.getByTestId("work-order-number").innerText() };
}

async function schedule(page, date, time, technician, hours) {
  const date_ = page.getByTestId("schedule-date");
  if (!(await date_.isVisible())) { await page.getByTestId("schedule-button").click(); }
  await date_.fill(date);
  await page.getByTestId("schedule-time").fill(time);
  await page.locator("#schedule_hours").fill(hours);
  await page.getByTestId("assign-employee").selectOption({ label: technician });
  await page.getByTestId("confirm-schedule").click();
  await page.waitForLoadState();
}

export default async function (t) {
  const { assert } = t;
  const tech = t.user("technician", 0);
  const otherTech = t.user("technician", 1);
  const customer = `Jobs Spec ${Date.now().toString(36)}`;

  // --- Office: the list, then a new work order for a new customer.
  const office = await t.as("office");
  await t.shotBoth(office, "/work-orders", "work-orders");
  await office.goto("/work-orders");
  await office.getByTestId("new-work-order-button").click();
  await office.waitForURL(/\/work-orders\/new$/);

  // Suggestions come from the customers as you type.
  await office.getByTestId("customer-name").pressSequentially("Smi", { delay: 30 });
  await office.waitForFunction(() => document.querySelectorAll("#customer-suggestions option").length > 0);
  await office.getByTestId("customer-name").fill(customer);
  await office.getByLabel("Street").fill("1200 W Fulton Market");
  await office.getByLabel("City").fill("Chicago");
  await office.getByTestId("service-type").fill("Drain cleaning");
  await office.getByTestId("description").fill("Kitchen sink backs up; clear the line.");
  await office.getByTestId("priority").selectOption("high");
  // The analysis appears before the work order exists.
  await office.getByTestId("estimated-cost").waitFor();
  assert.match(await t.text(office, "estimated-cost"), /^\$[\d,]+\.\d\d$/);
  assert.ok((await t.text(office, "recommended-employee")).length > 0);
  await shotHere(t, office, "work-order-new");
  await office.setViewportSize(DESKTOP);
  await office.getByTestId("create-work-order").click();
  await office.waitForURL(/\/work-orders\/[0-9a-f-]{36}$/);
  const jobUrl = new URL(office.url()).pathname;
  const number = await t.text(office, "work-order-number");
  assert.match(number, /^WO-\d{6}$/);
  assert.equal(await t.text(office, "work-order-status"), "Draft");
  assert.match(await t.text(office, "flash"), /with the new customer/);
  await office.getByTestId("estimated-duration").waitFor();

  // Schedule and assign it to the technician, by name, for today.
  await office.getByTestId("schedule-button").click();
  const today = await office.getByTestId("schedule-date").inputValue();
  assert.match(today, /^\d{4}-\d{2}-\d{2}$/);
  const before = await kpis(t, await t.as("owner"), today);
  await office.goto(jobUrl);
  await schedule(office, today, "20:15", tech.name, "1");
  assert.equal(await t.text(office, "work-order-status"), "Scheduled");
  assert.equal(await t.text(office, "assigned-employee"), tech.name);
  await t.shotBoth(office, jobUrl, "work-order");

  // A second job for the same technician at an overlapping time: refused, shown.
  const clash = await createOrder(office, customer, "Leak repair");
  await schedule(office, today, "20:45", tech.name, "1");
  assert.match(await t.text(office, "form-error"), new RegExp(`already booked on ${number}`));
  assert.equal(await t.text(office, "work-order-status"), "Draft");
  assert.ok(await office.getByTestId("schedule-date").isVisible(), "the form stays open");
  t.forgiveErrors((e) => e.includes("409"));
  // …and cancelled (with the confirmation).
  office.once("dialog", (d) => d.accept());
  await office.getByText("Cancel job", { exact: true }).click();
  await office.getByTestId("cancel-job-button").click();
  await office.waitForURL(new RegExp(`${clash.url}$`));
  assert.equal(await t.text(office, "work-order-status"), "Cancelled");

  // A job of another technician, for the 403 check below.
  const foreign = await createOrder(office, customer, "Sewer camera inspection");
  await schedule(office, today, "21:30", otherTech.name, "1");
  assert.equal(await t.text(office, "work-order-status"), "Scheduled");

  // --- The technician, on a phone: My day → the job.
  const phone = await t.as("technician", PHONE);
  await phone.goto("/my-day");
  const card = phone.locator(`[data-testid="my-day-job"][data-work-order="${number}"]`);
  await card.waitFor();
  assert.match(await card.innerText(), new RegExp(customer));
  assert.match(await card.innerText(), /1200 W Fulton Market, Chicago/);
  assert.match(await card.getByRole("link", { name: /^Map of / }).getAttribute("href"),
    /^https:\/\/www\.openstreetmap\.org\/search\?query=1200%20W%20Fulton%20Market%2C%20Chicago$/);
  assert.equal(await phone.locator(`[data-work-order="${foreign.number}"]`).count(), 0, "not someone else's job");
  await t.shotBoth(phone, "/my-day", "my-day");
  await phone.setViewportSize(PHONE);
  await phone.goto("/my-day");
  await card.getByRole("link", { name: "Open job" }).click();
  await phone.waitForURL(new RegExp(`${jobUrl}$`));
  await phone.getByTestId("start-job-button").click();
  await phone.waitForURL(new RegExp(`${jobUrl}$`));
  assert.equal(await t.text(phone, "work-order-status"), "In progress");

  // A before photo, as a plain multipart form post.
  await phone.getByLabel("Before the work").check();
  await phone.locator("#photos_input").setInputFiles({ name: "before.png", mimeType: "image/png", buffer: await png(phone, "#b33") });
  await phone.getByRole("button", { name: "Upload photos" }).click();
  await phone.waitForURL(new RegExp(`${jobUrl}#photos$`));
  assert.match(await t.text(phone, "flash"), /1 before photo added/);
  await phone.getByTestId("photos-before").locator("img").first().waitFor();

  // The signature pad: draw with the pointer, save.
  await t.shotBoth(phone, jobUrl, "technician-job");
  await phone.setViewportSize(PHONE);
  await phone.goto(jobUrl);
  const pad = phone.getByTestId("signature-pad");
  await pad.scrollIntoViewIfNeeded();
  const box = await pad.boundingBox();
  await phone.mouse.move(box.x + box.width * 0.1, box.y + box.height * 0.7);
  await phone.mouse.down();
  for (let i = 1; i <= 12; i++) {
    await phone.mouse.move(box.x + box.width * (0.1 + i * 0.065), box.y + box.height * (0.7 - 0.5 * Math.abs(Math.sin(i))), { steps: 3 });
  }
  await phone.mouse.up();
  await phone.getByTestId("save-signature").click();
  await phone.getByText("Signature saved.").waitFor();

  // Complete with the actual cost, an after photo and notes.
  await phone.getByTestId("complete-job-button").click();
  await phone.getByTestId("actual-cost").fill("245.00");
  await phone.getByTestId("actual-hours").fill("1.25");
  await phone.getByTestId("completion-notes").fill("Cleared the trap and the line; tested.");
  await phone.getByTestId("upload-photos").click();
  await phone.getByTestId("photo-upload").setInputFiles({ name: "after.png", mimeType: "image/png", buffer: await png(phone, "#3a7") });
  await phone.getByTestId("mark-complete").click();
  await phone.getByTestId("invoice-generated").waitFor();
  assert.match(await t.text(phone, "invoice-generated"), /INV-\d{6}/);
  assert.equal(await t.text(phone, "work-order-status"), "Completed");
  await phone.getByTestId("signature-image").waitFor();
  await phone.getByTestId("photos-after").locator("img").first().waitFor();
  const signature = await phone.getByTestId("signature-image").evaluate((img) => img.complete && img.naturalWidth > 0);
  assert.ok(signature, "the saved signature loads");

  // The office sees the invoice link.
  await office.goto(jobUrl);
  assert.match(await office.getByTestId("invoice-generated").locator("a").getAttribute("href"), /^\/invoices\/[0-9a-f-]{36}$/);

  // --- The owner's dashboard moved.
  const after = await kpis(t, await t.as("owner"), today);
  assert.equal(after.jobs, before.jobs + 1, "Jobs Complete + 1");
  assert.ok(after.revenue > before.revenue, `Total Revenue ${before.revenue} → ${after.revenue}`);

  // --- A technician cannot open another technician's job.
  const res = await phone.goto(foreign.url);
  assert.equal(res.status(), 403);
  assert.match(await phone.locator("h1").innerText(), /Not allowed/);
  t.forgiveErrors((e) => e.includes("403"));
}
