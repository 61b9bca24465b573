#!/usr/bin/env node
// nhiguard browser journey: starts `nhiguard demo` on a free port with a fresh data dir, drives
// headless Chromium (Debian's, through playwright-core) through the foundation pages, and prints
// one line per step plus exactly one summary line `browser: N passed, M failed` that CI reads.
//
//   node tests/browser/journey.mjs [path/to/nhiguard]      (default: target/debug/nhiguard)
//
// Environment: CHROMIUM (default /usr/bin/chromium); BROWSER_SCREENSHOTS=always also keeps
// screenshots of a passing run (normally they are taken only when a step fails).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, '..', '..');
const binary = path.resolve(repoRoot, process.argv[2] ?? 'target/debug/nhiguard');
const chromiumPath = process.env.CHROMIUM ?? '/usr/bin/chromium';
const PASSWORD = 'Nantou-Demo-115';
const HEALTH_TIMEOUT_MS = 60_000;
const STEP_TIMEOUT_MS = 10_000;

const results = [];
const browserErrors = []; // console errors (CSP violations show up here) and uncaught page errors
let currentStep = 'setup';
// Console errors that are not faults of the pages' script or CSP, each allowed only where expected:
// Chromium logs every non-2xx resource as a console error.
const EXPECTED_ERRORS = [
  // the server answers a refused sign-in with 401 on purpose (step a only)
  (e) => e.step.startsWith('a.') && /status of 401/.test(e.text) && new URL(e.url).pathname === '/signin',
  // no favicon is served; the browser asks for /favicon.ico on its own
  (e) => /status of 404/.test(e.text) && new URL(e.url).pathname === '/favicon.ico',
];
let child;
let childLog = '';
let dataDir;
let context;
let page;
let base;

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

async function waitHealthy(url) {
  const deadline = Date.now() + HEALTH_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`nhiguard exited early (${child.exitCode ?? child.signalCode})`);
    }
    try {
      const r = await fetch(url, { signal: AbortSignal.timeout(2_000) });
      if (r.ok && (await r.text()).trim() === 'ok') return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${url} did not answer ok within ${HEALTH_TIMEOUT_MS / 1000} s`);
}

async function stopChild() {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}

async function step(name, fn) {
  const started = Date.now();
  currentStep = name;
  try {
    await fn();
    results.push({ name, ok: true });
    console.log(`ok   ${name} (${Date.now() - started} ms)`);
  } catch (e) {
    results.push({ name, ok: false });
    const msg = String(e?.message ?? e).split('\n').slice(0, 6).join('\n       ');
    console.log(`FAIL ${name}: ${msg}`);
  }
}

// ---- page helpers -------------------------------------------------------------------------

const url = (p) => new URL(p, base).href;
const pathOf = () => new URL(page.url()).pathname;
const text = async (selector) => (await page.locator(selector).innerText()).trim();
const navLink = (label) => page.locator('header nav').getByRole('link', { name: label, exact: true });

async function expectSignInPage() {
  assert.equal(pathOf(), '/signin', `expected the sign-in page, got ${page.url()}`);
  assert.match(await page.title(), /登入/, 'page title');
  assert.equal(await text('main h1'), '登入', 'page heading');
}

async function signIn(username, password) {
  await page.fill('#username', username);
  await page.fill('#password', password);
  await Promise.all([page.waitForNavigation(), page.click('#signin')]);
}

// The same calendar day the server shows: the ROC (民國) date in Asia/Taipei.
function rocToday() {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat('en-US', { timeZone: 'Asia/Taipei', year: 'numeric', month: 'numeric', day: 'numeric' })
      .formatToParts(new Date())
      .map((p) => [p.type, p.value]),
  );
  return `民國${Number(parts.year) - 1911}年${Number(parts.month)}月${Number(parts.day)}日`;
}

async function rowOfItem(tableSelector, number) {
  const rows = page.locator(`${tableSelector} tbody tr`);
  const n = await rows.count();
  for (let i = 0; i < n; i++) {
    const row = rows.nth(i);
    if ((await row.locator('td').first().innerText()).trim() === String(number)) return row;
  }
  throw new Error(`no row for item ${number} in ${tableSelector}`);
}

// ---- the journey --------------------------------------------------------------------------

async function journey() {
  await step('a. / lands on the sign-in page; a wrong password is refused', async () => {
    await page.goto(url('/'));
    await expectSignInPage();
    await signIn('hlt.admin', 'not-the-password');
    await expectSignInPage();
    assert.match(await text('#signin-error'), /帳號或密碼錯誤/);
  });

  await step('b. hlt.admin signs in; home shows name, 衛生局, 機關管理者, ROC date', async () => {
    await page.goto(url('/signin'));
    await signIn('hlt.admin', PASSWORD);
    assert.equal(pathOf(), '/', `expected home, got ${page.url()}`);
    assert.match(await text('#me'), /李明哲/);
    assert.match(await text('#me'), /hlt\.admin/);
    assert.match(await text('main h1'), /李明哲/);
    assert.match(await text('#my-org'), /衛生局/);
    assert.match(await text('#my-roles'), /機關管理者/);
    const today = rocToday();
    assert.ok((await text('main')).includes(today), `home should show today as ${today}`);
  });

  await step('c. 組織: tree scoped to 衛生局; 南投市衛生所 lists 郭怡君', async () => {
    await page.goto(url('/'));
    await Promise.all([page.waitForURL('**/org'), navLink('組織').click()]);
    const tree = await text('#org-tree');
    assert.match(tree, /衛生局/);
    assert.match(tree, /南投市衛生所/);
    assert.doesNotMatch(tree, /稅務局/, 'another branch (稅務局) must not be listed');
    await Promise.all([
      page.waitForURL(/\/org\/[^/]+$/),
      page.locator('#org-tree').getByRole('link', { name: '南投市衛生所', exact: true }).click(),
    ]);
    assert.match(await text('#node-name'), /南投市衛生所/);
    assert.match(await text('#people'), /郭怡君/);
  });

  await step('d. 業務範圍: 12 items; 6 retired; 8 cites 兒童及少年福利與權益保障法', async () => {
    await page.goto(url('/'));
    await Promise.all([page.waitForURL('**/purposes'), navLink('業務範圍').click()]);
    assert.equal(await page.locator('#purposes tbody tr').count(), 12, 'rows in #purposes');
    const six = await rowOfItem('#purposes', 6);
    assert.equal((await six.locator('td.status').innerText()).trim(), '已廢止', 'item 6 status');
    const eight = await rowOfItem('#purposes', 8);
    assert.match(await eight.innerText(), /兒童及少年福利與權益保障法/);
  });

  await step('e. language link switches the purposes page to English and back', async () => {
    await page.goto(url('/purposes'));
    await Promise.all([page.waitForURL('**/purposes'), page.click('header a.lang')]);
    assert.equal(await page.getAttribute('html', 'lang'), 'en');
    assert.match(await text('#purposes thead'), /Legal basis/);
    assert.equal(await text('main h1'), 'Purposes');
    await Promise.all([page.waitForURL('**/purposes'), page.click('header a.lang')]);
    assert.match(await page.getAttribute('html', 'lang'), /^zh/);
    assert.match(await text('#purposes thead'), /法令依據/);
  });

  await step('f. sign out; /org then lands on the sign-in page', async () => {
    await page.goto(url('/'));
    await Promise.all([page.waitForNavigation(), page.click('#signout')]);
    assert.equal(await page.locator('#signout').count(), 0, 'no sign-out button after signing out');
    await page.goto(url('/org'));
    await expectSignInPage();
  });

  await step('g. plan.admin retires item 5 after confirming; history gains a retire row', async () => {
    await page.goto(url('/signin'));
    await signIn('plan.admin', PASSWORD);
    assert.equal(pathOf(), '/', `expected home, got ${page.url()}`);
    await Promise.all([page.waitForURL('**/purposes'), navLink('業務範圍').click()]);
    const five = await rowOfItem('#purposes', 5);
    assert.notEqual((await five.locator('td.status').innerText()).trim(), '已廢止', 'item 5 starts active');
    await Promise.all([page.waitForURL(/\/purposes\/[^/]+$/), five.locator('a').first().click()]);
    assert.match(await text('main h1'), /第5款/);
    const retireRowsBefore = await page.locator('#history tbody tr', { hasText: 'retire' }).count();
    const rowsBefore = await page.locator('#history tbody tr').count();
    let asked = '';
    page.once('dialog', async (d) => {
      asked = `${d.type()}: ${d.message()}`;
      await d.accept();
    });
    await Promise.all([page.waitForNavigation(), page.click('#retire')]);
    assert.match(asked, /^confirm: .*廢止/, 'the retire button asks for confirmation');
    assert.match(await text('main h1'), /第5款/, `expected item 5's page, got ${page.url()}`);
    assert.match(await text('main h1 .tag'), /已廢止/);
    assert.equal(await page.locator('#retire').count(), 0, 'no retire button on a retired purpose');
    assert.equal(await page.locator('#history tbody tr').count(), rowsBefore + 1, 'history rows');
    assert.equal(
      await page.locator('#history tbody tr', { hasText: 'retire' }).count(),
      retireRowsBefore + 1,
      'history gains a retire row',
    );
    const by = await page.locator('#history tbody tr', { hasText: 'retire' }).last().locator('td').nth(2).innerText();
    assert.ok(by.trim() && !/系統|system/.test(by), `the retire row names who did it, got ${JSON.stringify(by)}`);
  });

  await step('h. no console errors, CSP violations or page errors during the journey', async () => {
    const unexpected = [];
    for (const e of browserErrors) {
      const line = `${e.kind}: ${e.text} @ ${e.url} (during ${e.step.split(' ')[0]})`;
      if (EXPECTED_ERRORS.some((ok) => ok(e))) console.log(`     note, expected: ${line}`);
      else unexpected.push(line);
    }
    assert.deepEqual(unexpected, [], 'unexpected browser errors');
  });
}

async function screenshots(always) {
  const failed = results.some((r) => !r.ok);
  if (!page || (!failed && !always)) return;
  // dataDir is removed at the end, so the pictures go to a temp dir of their own that is kept.
  const dir = mkdtempSync(path.join(os.tmpdir(), 'nhiguard-browser-shots-'));
  for (const [name, p] of [['home', '/'], ['org', '/org']]) {
    const file = path.join(dir, `${name}.png`);
    try {
      await page.goto(url(p), { timeout: STEP_TIMEOUT_MS });
      await page.screenshot({ path: file, fullPage: true });
      console.log(`screenshot ${name}: ${file}`);
    } catch (e) {
      console.log(`screenshot ${name}: failed (${String(e?.message ?? e).split('\n')[0]})`);
    }
  }
}

async function main() {
  let fatal;
  try {
    if (!existsSync(binary)) throw new Error(`no binary at ${binary} (cargo build -p nhiguard)`);
    if (!existsSync(chromiumPath)) throw new Error(`no Chromium at ${chromiumPath} (apt-get install -y chromium)`);
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'nhiguard-browser-'));
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    child = spawn(binary, ['demo', '--data-dir', path.join(dataDir, 'data'), '--listen', `127.0.0.1:${port}`], {
      cwd: repoRoot,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.on('error', (e) => (childLog += `spawn error: ${e.message}\n`));
    for (const s of [child.stdout, child.stderr]) s.on('data', (d) => (childLog = (childLog + d).slice(-8_000)));
    await waitHealthy(url('/healthz'));
    console.log(`server up: ${base} (${binary})`);

    context = await chromium.launchPersistentContext(path.join(dataDir, 'chromium-profile'), {
      executablePath: chromiumPath,
      headless: true,
      args: [
        '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync',
      ],
      locale: 'zh-TW',
      timezoneId: 'Asia/Taipei',
      viewport: { width: 1280, height: 900 },
    });
    context.setDefaultTimeout(STEP_TIMEOUT_MS);
    context.setDefaultNavigationTimeout(STEP_TIMEOUT_MS);
    page = context.pages()[0] ?? (await context.newPage());
    page.on('console', (m) => {
      if (m.type() !== 'error') return;
      browserErrors.push({ step: currentStep, kind: 'console', text: m.text(), url: m.location()?.url || page.url() });
    });
    page.on('pageerror', (e) => {
      browserErrors.push({ step: currentStep, kind: 'pageerror', text: e.message, url: page.url() });
    });

    await journey();
    await screenshots(process.env.BROWSER_SCREENSHOTS === 'always');
  } catch (e) {
    fatal = e;
    console.log(`FAIL setup: ${String(e?.message ?? e).split('\n')[0]}`);
    await screenshots(false).catch(() => {});
  } finally {
    await context?.close().catch(() => {});
    await stopChild().catch(() => {});
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  }
  const passed = results.filter((r) => r.ok).length;
  const failed = results.length - passed + (fatal ? 1 : 0);
  if (failed && childLog) console.log(`--- nhiguard output (tail) ---\n${childLog.trimEnd()}\n---`);
  console.log(`browser: ${passed} passed, ${failed} failed`);
  process.exitCode = failed ? 1 : 0;
}

for (const sig of ['SIGINT', 'SIGTERM']) {
  process.once(sig, () => {
    child?.kill('SIGKILL');
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
    process.exit(130);
  });
}

await main();
