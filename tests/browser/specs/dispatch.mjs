// The dispatch board: drag a job onto another technician's lane at a time
// (the page and the API agree on the new booking), drag it onto a slot that
// clashes (the alert names the other booking, the card goes back, nothing
// changes), drag a booked job onto Unassigned (refused), and move a job with
// the keyboard through its Move form. Screenshots of the day and week boards.
export default async function (t) {
  const { assert } = t;
  const page = await t.as("office");
  await page.goto("/dispatch");
  const api = (method, url, body) => page.evaluate(([m, u, b]) => window.Quant.api(m, u, b === null ? undefined : b), [method, url, body ?? null]);

  // A quiet Monday five weeks ahead, two technicians, two bookings.
  const today = await page.locator("#board").getAttribute("data-date");
  const d = new Date(today + "T12:00:00Z");
  d.setUTCDate(d.getUTCDate() + 35);
  d.setUTCDate(d.getUTCDate() + ((8 - d.getUTCDay()) % 7));
  let day = d.toISOString().slice(0, 10);
  for (let i = 0; i < 30; i++) {
    // A Monday nobody is booked on yet (the spec may run again on the same demo).
    const taken = await api("GET", `/api/v1/work-orders?from=${day}&to=${day}&limit=1`);
    if (taken.pagination.total === 0) { break; }
    d.setUTCDate(d.getUTCDate() + 7);
    day = d.toISOString().slice(0, 10);
  }
  const techs = (await api("GET", "/api/v1/employees?active=true&limit=100")).data;
  assert.ok(techs.length >= 3, "the demo has technicians");
  const [a, b, c] = techs;
  const cust = await api("POST", "/api/v1/customers", { name: "Dispatch Spec Household" });
  const book = async (emp, time, hours, service) => {
    const wo = await api("POST", "/api/v1/work-orders", { customerId: cust.id, serviceType: service, estimatedDurationHours: hours });
    return api("POST", `/api/v1/work-orders/${wo.id}/schedule`, { scheduledDate: day, scheduledTime: time, assignedEmployeeId: emp.id });
  };
  const job = await book(a, "09:00", 2, "Water heater replacement");
  const blocker = await book(b, "13:00", 1, "Leak repair");
  await book(c, "08:00", 1.5, "Drain cleaning");

  const board = `/dispatch?view=day&date=${day}`;
  await page.goto(board);
  const lane = (emp) => page.locator(`[data-testid="lane"][data-employee="${emp.id}"]`);
  const card = () => page.locator(`[data-testid="job-card"][data-id="${job.id}"]`);
  await lane(a).locator(`[data-id="${job.id}"]`).waitFor();

  // Basic accessibility of the board and the open form: every control has a
  // label, every button and link a name, one h1, a live region for messages.
  const a11y = () => page.evaluate(() => {
    const out = [];
    for (const el of document.querySelectorAll("input:not([type=hidden]), select, textarea")) {
      if (!el.labels.length && !el.getAttribute("aria-label")) { out.push(`unlabelled ${el.outerHTML.slice(0, 80)}`); }
    }
    for (const el of document.querySelectorAll("button, a[href]")) {
      if (!(el.textContent || el.getAttribute("aria-label") || "").trim() && !el.querySelector("img[alt]:not([alt=''])")) { out.push(`nameless ${el.outerHTML.slice(0, 80)}`); }
    }
    if (document.querySelectorAll("h1").length !== 1) { out.push("not exactly one h1"); }
    if (!document.querySelector('[aria-live="polite"]')) { out.push("no live region"); }
    return out;
  });
  assert.deepEqual(await a11y(), [], "the board");

  // Where on a lane's time line `hhmm` is (a point inside that quarter hour).
  const at = async (emp, hhmm) => {
    const track = lane(emp).locator(".track");
    const geo = await track.evaluate((el) => {
      const cs = getComputedStyle(el), r = el.getBoundingClientRect(), bd = document.getElementById("board");
      return { padL: parseFloat(cs.paddingLeft), padR: parseFloat(cs.paddingRight), width: r.width, height: r.height,
        start: +bd.dataset.start, quarters: +bd.dataset.quarters };
    });
    const [h, m] = hhmm.split(":").map(Number);
    const q = (h * 60 + m - geo.start) / 15;
    const inner = geo.width - geo.padL - geo.padR;
    return { track, position: { x: geo.padL + (q + 0.5) * inner / geo.quarters, y: Math.min(geo.height - 4, 12) } };
  };

  // 1. Drag to technician B at 10:00.
  let target = await at(b, "10:00");
  await card().dragTo(target.track, { targetPosition: target.position });
  await lane(b).locator(`[data-id="${job.id}"][data-time="10:00"]`).waitFor();
  assert.equal(await lane(a).locator(`[data-id="${job.id}"]`).count(), 0, "gone from A's lane");
  await page.waitForFunction(() => document.getElementById("board-status").textContent !== "");
  assert.match(await page.getByTestId("board-status").textContent(), new RegExp(`${job.workOrderNumber} moved to ${b.name}, ${day} 10:00`));
  let now = await api("GET", `/api/v1/work-orders/${job.id}`);
  assert.equal(now.assignedEmployeeId, b.id);
  assert.equal(now.scheduledTime, "10:00");
  assert.equal(now.scheduledDate, day);
  assert.equal(now.status, "scheduled");

  // 2. Drag onto 12:30 on B's lane: 12:30–14:30 overlaps the 13:00 booking.
  target = await at(b, "12:30");
  await card().dragTo(target.track, { targetPosition: target.position });
  const alert = page.getByTestId("board-alert");
  await alert.waitFor({ state: "visible" });
  const msg = await alert.innerText();
  assert.match(msg, /^Not moved: /);
  assert.ok(msg.includes(`${b.name} is already booked on ${blocker.workOrderNumber}`), msg);
  t.forgiveErrors((e) => e.includes("409"));
  await lane(b).locator(`[data-id="${job.id}"][data-time="10:00"]`).waitFor();
  assert.equal(await card().evaluate((el) => el.classList.contains("saving")), false, "back where it was");
  now = await api("GET", `/api/v1/work-orders/${job.id}`);
  assert.equal(now.scheduledTime, "10:00", "nothing changed");
  assert.equal(now.assignedEmployeeId, b.id);
  await t.shot(page, "dispatch-clash");

  // 3. A booked job dropped on Unassigned is refused before any request.
  target = await at({ id: "" }, "11:00");
  await card().dragTo(target.track, { targetPosition: target.position });
  await page.waitForFunction(() => /cannot be unassigned/.test(document.getElementById("board-alert").textContent));
  assert.equal(await lane(b).locator(`[data-id="${job.id}"]`).count(), 1);

  // 4. The keyboard: the card's Move link, then its form (no drag needed).
  await card().getByTestId("move-link").focus();
  await Promise.all([page.waitForURL(/move=/), page.keyboard.press("Enter")]);
  const form = page.getByTestId("move-form");
  await form.waitFor();
  assert.equal(await page.evaluate(() => document.activeElement && document.activeElement.id), "move-employee", "the form takes the focus");
  assert.deepEqual(await a11y(), [], "the board with a Move form open");
  await form.getByLabel("Technician", { exact: true }).selectOption({ label: a.name });
  await form.getByLabel("Time", { exact: true }).fill("15:00");
  await form.getByTestId("move-submit").focus();
  await Promise.all([page.waitForURL((u) => !u.search.includes("move=")), page.keyboard.press("Enter")]);
  assert.match(await t.text(page, "flash"), new RegExp(`${job.workOrderNumber} moved to ${a.name}, ${day} 15:00`));
  await lane(a).locator(`[data-id="${job.id}"][data-time="15:00"]`).waitFor();
  now = await api("GET", `/api/v1/work-orders/${job.id}`);
  assert.equal(now.assignedEmployeeId, a.id);
  assert.equal(now.scheduledTime, "15:00");


  // Screenshots: the busiest day of the coming two weeks, and its week.
  const upcoming = (await api("GET", `/api/v1/work-orders?status=scheduled,in_progress&from=${today}&limit=100`)).data;
  const perDay = {};
  for (const w of upcoming) { if (w.scheduledDate < day) { perDay[w.scheduledDate] = (perDay[w.scheduledDate] || 0) + 1; } }
  const busiest = Object.keys(perDay).sort((x, y) => perDay[y] - perDay[x] || x.localeCompare(y))[0] || day;
  await t.shotBoth(page, `/dispatch?view=day&date=${busiest}`, "dispatch-day");
  await t.shotBoth(page, `/dispatch?view=week&date=${busiest}`, "dispatch-week");
  await page.setViewportSize({ width: 360, height: 740 });
  await page.goto(`/dispatch?view=day&date=${day}&move=${job.id}`);
  await page.evaluate(() => window.scrollTo(0, 0));
  await t.shot(page, "dispatch-move-form");
}
