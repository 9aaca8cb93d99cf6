/**
 * The demo app (examples/server.ts) in a real browser: Debian's Chromium driven by playwright-core
 * (never a downloaded browser). The demo runs as a child process on a free loopback port, reached
 * as http://app.example.test:<port> (Chromium maps *.example.test and *.attacker.test to 127.0.0.1),
 * and an attacker's site runs on another loopback port: http://evil.attacker.test:<port> (another
 * site) and http://evil.example.test:<port> (a sibling subdomain: same site, another origin). Both
 * servers are stopped at the end (the demo by pid). A screenshot of every state goes to
 * test-output/e2e/.
 *
 * Needs /usr/bin/chromium (`apt-get install -y chromium`). Without it the suite is skipped with a
 * message, except under CI (CI set), where it fails.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { existsSync, mkdirSync, rmSync } from "node:fs"
import { createServer, type Server } from "node:http"
import * as Net from "node:net"
import { fileURLToPath } from "node:url"
import { type Browser, type BrowserContext, chromium, type Cookie, type Page } from "playwright-core"
import { afterAll, beforeAll, describe, expect, it } from "vitest"

const CHROMIUM = "/usr/bin/chromium"
const root = fileURLToPath(new URL("..", import.meta.url))
const shots = `${root}test-output/e2e`
const hasChromium = existsSync(CHROMIUM)

if (!hasChromium) {
  const message =
    `${CHROMIUM} is missing: install Debian's Chromium (apt-get install -y chromium) to run the browser tests`
  if (process.env.CI) throw new Error(message)
  console.warn(`SKIPPED: ${message}`)
}

const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const server = Net.createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      server.close(() => typeof address === "object" && address !== null ? resolve(address.port) : reject())
    })
  })

interface Demo {
  readonly child: ChildProcess
  readonly output: () => string
}

/** Starts the demo (`tsx examples/server.ts`) and resolves once it printed its URL. */
const startDemo = (port: number, env: Record<string, string> = {}) =>
  new Promise<Demo>((resolve, reject) => {
    // node --import tsx: one process, so the pid we kill is the server's
    const child = spawn(process.execPath, ["--import", "tsx", "examples/server.ts"], {
      cwd: root,
      env: { ...process.env, PORT: String(port), HOST: "127.0.0.1", ...env },
      stdio: ["ignore", "pipe", "pipe"]
    })
    let output = ""
    const timer = setTimeout(() => {
      if (child.pid !== undefined && child.exitCode === null) process.kill(child.pid, "SIGKILL")
      reject(new Error(`demo did not start within 90 s:\n${output}`))
    }, 90_000)
    const onData = (chunk: Buffer) => {
      output += chunk.toString("utf8")
      if (output.includes(`http://localhost:${port}`)) {
        clearTimeout(timer)
        resolve({ child, output: () => output })
      }
    }
    child.stdout!.on("data", onData)
    child.stderr!.on("data", onData)
    child.once("exit", (code) => {
      clearTimeout(timer)
      reject(new Error(`demo exited early with ${code}:\n${output}`))
    })
  })

const stop = (child: ChildProcess) =>
  new Promise<void>((resolve) => {
    if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return resolve()
    const kill = setTimeout(() => {
      if (child.exitCode === null && child.signalCode === null) process.kill(child.pid!, "SIGKILL")
    }, 5_000)
    child.once("exit", () => {
      clearTimeout(kill)
      resolve()
    })
    process.kill(child.pid, "SIGTERM")
  })

/** A well-formed token nobody minted. */
const FORGED = "Zm9yZ2VkLXRva2VuLWZvci10aGUtZTJlLXN1aXRlAAA"

/**
 * The attacker's site: pages that auto-submit a form to the demo (login CSRF with bob's
 * credentials, logout CSRF), and one that plants a second session cookie for the whole parent
 * domain from a sibling subdomain (cookie tossing).
 */
const startAttacker = (demo: () => string) =>
  new Promise<Server>((resolve) => {
    const html = (body: string) => `<!doctype html><html><body>${body}</body></html>`
    const autoSubmit = (action: string, fields: Record<string, string>) =>
      html(
        `<h1>You won a prize!</h1><form method="post" action="${action}">${
          Object.entries(fields).map(([name, value]) => `<input type="hidden" name="${name}" value="${value}">`).join(
            ""
          )
        }</form><script>document.forms[0].submit()</script>`
      )
    const server = createServer((request, response) => {
      response.setHeader("content-type", "text/html; charset=utf-8")
      switch (request.url) {
        case "/login-csrf":
          return response.end(autoSubmit(`${demo()}/login`, { username: "bob", password: "bob" }))
        case "/logout-csrf":
          return response.end(autoSubmit(`${demo()}/logout`, {}))
        case "/toss":
          return response.end(
            html(
              `<p id="tossed">planted</p><script>document.cookie = "sid=${FORGED}; domain=example.test; path=/"</script>`
            )
          )
        default:
          response.statusCode = 404
          return response.end(html("nothing"))
      }
    })
    server.listen(0, "127.0.0.1", () => resolve(server))
  })

const portOf = (server: Server) => {
  const address = server.address()
  return typeof address === "object" && address !== null ? address.port : 0
}

const sessionCookies = async (context: BrowserContext, base: string): Promise<ReadonlyArray<Cookie>> =>
  (await context.cookies(base)).filter((cookie) => cookie.name === "sid")

const sessionCookie = async (context: BrowserContext, base: string): Promise<Cookie | undefined> => {
  const cookies = await sessionCookies(context, base)
  return cookies.length === 1 ? cookies[0] : undefined
}

const isToken = (value: string) => /^[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$/.test(value)

describe.skipIf(!hasChromium)("demo app in Chromium", () => {
  let demo: Demo | undefined
  let attacker: Server | undefined
  let browser: Browser | undefined
  let base = ""
  let direct = ""
  let first: BrowserContext
  let firstPage: Page
  let second: BrowserContext
  let secondPage: Page
  let loggedInToken = ""
  const consoleErrors: Array<string> = []
  let step = 0
  const screenshot = async (page: Page, name: string) => {
    step++
    await page.screenshot({ path: `${shots}/${String(step).padStart(2, "0")}-${name}.png`, fullPage: true })
  }
  const watch = (page: Page) => {
    page.on("console", (message) => {
      if (message.type() === "error") consoleErrors.push(message.text())
    })
    page.on("pageerror", (error) => consoleErrors.push(error.message))
  }
  const newContext = () => browser!.newContext({ viewport: { width: 1100, height: 900 } })
  const signIn = async (page: Page, user: string, password: string) => {
    await page.goto(`${base}/login`)
    await page.fill("#username", user)
    await page.fill("#password", password)
    await Promise.all([page.waitForURL(`${base}/`), page.click("button[type=submit]")])
  }

  beforeAll(async () => {
    rmSync(shots, { recursive: true, force: true })
    mkdirSync(shots, { recursive: true })
    const port = await freePort()
    base = `http://app.example.test:${port}`
    direct = `http://127.0.0.1:${port}`
    attacker = await startAttacker(() => base)
    demo = await startDemo(port)
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--host-resolver-rules=MAP *.example.test 127.0.0.1, MAP *.attacker.test 127.0.0.1"
      ]
    })
    first = await newContext()
    firstPage = await first.newPage()
    watch(firstPage)
  })

  afterAll(async () => {
    await browser?.close()
    if (demo !== undefined) await stop(demo.child)
    await new Promise<void>((resolve) => attacker === undefined ? resolve() : attacker.close(() => resolve()))
  })

  it("shows the login form without storing a session; a failed login keeps the username (post/redirect/get)", async () => {
    await firstPage.goto(`${base}/`)
    expect(new URL(firstPage.url()).pathname).toBe("/login")
    // sessions are opened on demand: reading the login page stores nothing, sets no cookie
    expect(await sessionCookies(first, base)).toEqual([])
    await screenshot(firstPage, "login-form")

    await firstPage.fill("#username", "alice")
    await firstPage.fill("#password", "wrong")
    await Promise.all([firstPage.waitForURL(`${base}/login`), firstPage.click("button[type=submit]")])
    expect(await firstPage.locator("#flash").textContent()).toBe("Invalid username or password.")
    expect(await firstPage.inputValue("#username")).toBe("alice")
    expect(await firstPage.inputValue("#password")).toBe("")
    await screenshot(firstPage, "login-failed")
    // read once: a reload shows a clean form
    await firstPage.reload()
    expect(await firstPage.locator("#flash").count()).toBe(0)
    const anonymous = await sessionCookie(first, base)
    expect(anonymous !== undefined && isToken(anonymous.value)).toBe(true)

    await firstPage.fill("#username", "alice")
    await firstPage.fill("#password", "alice")
    await Promise.all([firstPage.waitForURL(`${base}/`), firstPage.click("button[type=submit]")])
    expect(await firstPage.locator("#greeting").textContent()).toBe("Hello, Alice")
    expect(await firstPage.locator("#visits").textContent()).toBe("1")
    const cookie = await sessionCookie(first, base)
    // login rotated the session: a new token
    expect(cookie!.value).not.toBe(anonymous!.value)
    loggedInToken = cookie!.value
    await screenshot(firstPage, "logged-in")
  })

  it("has a session cookie with the expected attributes in the browser's jar", async () => {
    const cookies = await sessionCookies(first, base)
    expect(cookies).toHaveLength(1)
    const cookie = cookies[0]
    expect(isToken(cookie.value)).toBe(true)
    expect(cookie.httpOnly).toBe(true)
    expect(cookie.sameSite).toBe("Lax")
    expect(cookie.path).toBe("/")
    // host-only: no Domain attribute was sent
    expect(cookie.domain).toBe("app.example.test")
    // plain http: secure: "auto" leaves Secure off
    expect(cookie.secure).toBe(false)
    // maxAge: "browser": no Max-Age, the cookie ends with the browser session (the server keeps the idle limit)
    expect(cookie.expires).toBe(-1)
    // HttpOnly: invisible to scripts
    expect(await firstPage.evaluate("document.cookie")).toBe("")
  })

  it("keeps the same session on reload, and the counter goes up", async () => {
    await firstPage.reload()
    expect(await firstPage.locator("#visits").textContent()).toBe("2")
    expect((await sessionCookie(first, base))!.value).toBe(loggedInToken)
    await screenshot(firstPage, "reloaded")
  })

  it("logs in from a second browser; logging it out from the first tells the second why", async () => {
    second = await newContext()
    secondPage = await second.newPage()
    watch(secondPage)
    await signIn(secondPage, "alice", "alice")
    expect(await secondPage.locator("#visits").textContent()).toBe("1")
    expect(await secondPage.locator("#session-count").textContent()).toBe("2")
    await screenshot(secondPage, "second-browser")

    await firstPage.reload()
    expect(await firstPage.locator("#session-count").textContent()).toBe("2")
    await screenshot(firstPage, "two-sessions")
    await Promise.all([firstPage.waitForURL(`${base}/`), firstPage.click("#revoke-others")])
    expect(await firstPage.locator("#flash").textContent()).toBe("Logged out 1 other session(s).")
    expect(await firstPage.locator("#session-count").textContent()).toBe("1")
    await screenshot(firstPage, "revoked-others")

    await secondPage.reload()
    expect(new URL(secondPage.url()).pathname).toBe("/login")
    expect(await secondPage.locator("#flash").textContent()).toBe("You were signed out on another device.")
    await screenshot(secondPage, "second-browser-signed-out")
  })

  it("login CSRF from another site fails in the browser: 403, nobody logged in as bob", async () => {
    const attackerSite = `http://evil.attacker.test:${portOf(attacker!)}`
    // a visitor without a session
    const fresh = await newContext()
    const victim = await fresh.newPage()
    watch(victim)
    await Promise.all([victim.waitForURL(`${base}/login`), victim.goto(`${attackerSite}/login-csrf`)])
    expect(await victim.textContent("body")).toBe("Cross-origin request refused")
    expect(await sessionCookies(fresh, base)).toEqual([])
    await screenshot(victim, "login-csrf-refused")
    await victim.goto(`${base}/`)
    expect(new URL(victim.url()).pathname).toBe("/login")
    await fresh.close()

    // a visitor signed in as alice: still alice
    await Promise.all([firstPage.waitForURL(`${base}/login`), firstPage.goto(`${attackerSite}/login-csrf`)])
    expect(await firstPage.textContent("body")).toBe("Cross-origin request refused")
    await firstPage.goto(`${base}/`)
    expect(await firstPage.locator("#greeting").textContent()).toBe("Hello, Alice")
    expect((await sessionCookie(first, base))!.value).toBe(loggedInToken)
    await screenshot(firstPage, "login-csrf-still-alice")
  })

  it("logout CSRF from a sibling subdomain (same site: the cookie goes along) fails too", async () => {
    const sibling = `http://evil.example.test:${portOf(attacker!)}`
    await Promise.all([firstPage.waitForURL(`${base}/logout`), firstPage.goto(`${sibling}/logout-csrf`)])
    expect(await firstPage.textContent("body")).toBe("Cross-origin request refused")
    await screenshot(firstPage, "logout-csrf-refused")
    await firstPage.goto(`${base}/`)
    expect(await firstPage.locator("#greeting").textContent()).toBe("Hello, Alice")
    expect((await sessionCookie(first, base))!.value).toBe(loggedInToken)
  })

  it("has a 404 page", async () => {
    const response = await firstPage.goto(`${base}/no/such/page`)
    expect(response!.status()).toBe(404)
    expect(await firstPage.locator("#not-found").textContent()).toBe("Page not found")
    await screenshot(firstPage, "not-found")
  })

  it("explains a duplicate session cookie (planted by a sibling subdomain) and recovers from it", async () => {
    const context = await newContext()
    const page = await context.newPage()
    watch(page)
    await signIn(page, "bob", "bob")
    await page.goto(`http://evil.example.test:${portOf(attacker!)}/toss`)
    expect(await page.locator("#tossed").textContent()).toBe("planted")
    expect(await sessionCookies(context, base)).toHaveLength(2)
    const response = await page.goto(`${base}/`)
    expect(response!.status()).toBe(400)
    expect(await page.locator("#duplicate-cookie").textContent()).toBe("Your browser sent two session cookies")
    await screenshot(page, "duplicate-cookie")
    // the response expired both copies: the next request is an ordinary signed-out one
    expect(await sessionCookies(context, base)).toEqual([])
    await Promise.all([page.waitForURL(`${base}/login`), page.click("#continue")])
    await screenshot(page, "duplicate-cookie-continue")
    await page.fill("#username", "bob")
    await page.fill("#password", "bob")
    await Promise.all([page.waitForURL(`${base}/`), page.click("button[type=submit]")])
    expect(await page.locator("#greeting").textContent()).toBe("Hello, Bob")
    await screenshot(page, "duplicate-cookie-recovered")
    await context.close()
  })

  it("logs out with a message; the old cookie replayed is refused and the browser is told", async () => {
    await firstPage.goto(`${base}/`)
    const old = (await sessionCookie(first, base))!.value
    expect(old).toBe(loggedInToken)
    await Promise.all([firstPage.waitForURL(`${base}/login`), firstPage.click("#logout")])
    expect(await firstPage.locator("#flash").textContent()).toBe("You are signed out.")
    // the signed-in cookie was replaced by the new anonymous session's (it carries the message)
    expect((await sessionCookie(first, base))!.value).not.toBe(old)
    await screenshot(firstPage, "logged-out")

    // replay with a plain HTTP client: not served as alice, sent to the login form
    const replay = await fetch(`${direct}/`, { headers: { cookie: `sid=${old}` }, redirect: "manual" })
    expect(replay.status).toBe(303)
    expect(replay.headers.get("location")).toBe("/login")
    expect(replay.headers.getSetCookie().every((line) => !line.includes(old))).toBe(true)

    // and in a fresh browser holding only the old cookie
    const replayContext = await newContext()
    await replayContext.addCookies([{ name: "sid", value: old, url: base, httpOnly: true, sameSite: "Lax" }])
    const replayPage = await replayContext.newPage()
    watch(replayPage)
    await replayPage.goto(`${base}/`)
    expect(new URL(replayPage.url()).pathname).toBe("/login")
    expect(await replayPage.locator("#flash").textContent()).toBe(
      "Your session is no longer valid. Please sign in again."
    )
    await screenshot(replayPage, "old-cookie-refused")
    await replayContext.close()
  })

  it("tells a browser whose session expired", async () => {
    const port = await freePort()
    const short = await startDemo(port, { SESSION_IDLE_TIMEOUT: "8 seconds" })
    try {
      const shortBase = `http://app.example.test:${port}`
      const context = await newContext()
      const page = await context.newPage()
      watch(page)
      await page.goto(`${shortBase}/login`)
      await page.fill("#username", "alice")
      await page.fill("#password", "alice")
      await Promise.all([page.waitForURL(`${shortBase}/`), page.click("button[type=submit]")])
      expect(await page.locator("#greeting").textContent()).toBe("Hello, Alice")
      await new Promise((resolve) => setTimeout(resolve, 9_000))
      await page.goto(`${shortBase}/`)
      expect(new URL(page.url()).pathname).toBe("/login")
      expect(await page.locator("#flash").textContent()).toBe("Your session expired. Please sign in again.")
      await screenshot(page, "session-expired")
      await context.close()
    } finally {
      await stop(short.child)
    }
  })

  it("logged no browser console errors (CSP, scripts) and no token", () => {
    // the refused, missing and duplicate-cookie pages answer 4xx on purpose; Chromium reports those statuses
    expect(consoleErrors.filter((text) => !/status of 40[034]/.test(text))).toEqual([])
    expect(demo!.output()).not.toContain(loggedInToken)
  })
})
