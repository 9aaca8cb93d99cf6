/**
 * Bad input of the "cookie header" family (missing, empty, malformed, oversized, quoted, duplicate,
 * near-miss and prototype names): one table, each row through a real server on
 * loopback, each asserting the exact outcome: the status, whether a fresh session was opened,
 * whether the store was consulted (a counting store) and the auth manager asked (the mock's calls),
 * and that the live session the row was built from was neither served by mistake nor harmed.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { HttpSession, SessionToken } from "effect-session"
import {
  cookieAttributes,
  cookieValue,
  forgedToken,
  json,
  observe,
  rawGet,
  type Reply,
  request,
  serve,
  serverPort,
  StoreProbe
} from "./support.js"

/**
 * The route under test reads the session and writes nothing (sessions are opened on demand):
 *
 * - `served`: 200 as the live session; one store lookup (not due for a touch: no Set-Cookie).
 * - `fresh`: no session cookie at all: 200 with a new session, not stored; no store access, no
 *   Set-Cookie.
 * - `refused`: a session cookie that is no token: as `fresh`, and the bad cookie is expired; the
 *   store was NOT consulted for the presented value.
 * - `refusedAfterLookup`: a well-formed value the store did not know: one lookup, then as `refused`.
 * - `ambiguous`: 401, no store or auth access at all; the response only expires the copies of the
 *   cookie it can address (cookie tossing is not resolved by guessing, but the user recovers).
 * - `refusedByNode`: Node's HTTP parser answers before any application code (status given).
 */
type Outcome =
  | { readonly _tag: "served" }
  | { readonly _tag: "fresh" }
  | { readonly _tag: "refused" }
  | { readonly _tag: "refusedAfterLookup" }
  | { readonly _tag: "ambiguous" }
  | { readonly _tag: "refusedByNode"; readonly status: number }

interface Given {
  /** The live session's token (minted by a first request). */
  readonly token: string
  /** A well-formed token nobody minted. */
  readonly forged: string
}

interface Row {
  readonly name: string
  /** The Cookie header value; `undefined`: no Cookie header. */
  readonly cookie: (given: Given) => string | undefined
  /** Send the bytes through a raw socket (for bytes client libraries refuse, or an empty header). */
  readonly raw?: boolean
  readonly expect: Outcome
}

const served: Outcome = { _tag: "served" }
const fresh: Outcome = { _tag: "fresh" }
const refused: Outcome = { _tag: "refused" }
const refusedAfterLookup: Outcome = { _tag: "refusedAfterLookup" }
const ambiguous: Outcome = { _tag: "ambiguous" }

const hex = (char: string) => `%${char.charCodeAt(0).toString(16).toUpperCase()}`
const pairs = (n: number, pair: string) => Array.from({ length: n }, () => pair).join("; ")

const rows: ReadonlyArray<Row> = [
  // missing and empty
  { name: "missing: no Cookie header", cookie: () => undefined, expect: fresh },
  { name: "empty: a Cookie header with no value", cookie: () => "", raw: true, expect: fresh },
  { name: "empty value: sid=", cookie: () => "sid=", expect: fresh },
  { name: "empty value among others", cookie: () => "a=1; sid=; b=2", expect: fresh },
  // no "="
  { name: "no '=': the name alone", cookie: () => "sid", expect: fresh },
  { name: "no '=': the token alone", cookie: ({ token }) => token, expect: fresh },
  { name: "no '=': the name and token glued", cookie: ({ token }) => `sid${token}`, expect: fresh },
  // oversized
  { name: "oversized: 4 KB value", cookie: () => `sid=${"A".repeat(4096)}`, expect: refused },
  { name: "oversized: 15 KB value", cookie: () => `sid=${"A".repeat(15 * 1024)}`, expect: refused },
  {
    name: "oversized: a 4 KB cookie of another name before the session",
    cookie: ({ token }) => `big=${"x".repeat(4096)}; sid=${token}`,
    expect: served
  },
  {
    name: "oversized: 15 KB of other cookies around the session",
    cookie: ({ token }) => `a=${"x".repeat(7 * 1024)}; sid=${token}; b=${"y".repeat(8 * 1024)}`,
    expect: served
  },
  {
    name: "oversized: 17 KB header (over Node's 16 KiB header limit)",
    cookie: ({ token }) => `sid=${token}; pad=${"x".repeat(17 * 1024)}`,
    raw: true,
    expect: { _tag: "refusedByNode", status: 431 }
  },
  // wrong alphabet or length
  { name: "wrong length: 42 characters", cookie: ({ token }) => `sid=${token.slice(0, 42)}`, expect: refused },
  { name: "wrong length: 44 characters", cookie: ({ token }) => `sid=${token}A`, expect: refused },
  { name: "wrong length: 1 character", cookie: () => "sid=A", expect: refused },
  {
    name: "wrong alphabet: standard base64 + and /",
    cookie: ({ token }) => `sid=+/${token.slice(2)}`,
    expect: refused
  },
  { name: "wrong alphabet: padding =", cookie: ({ token }) => `sid=${token.slice(0, 42)}=`, expect: refused },
  {
    name: "wrong alphabet: non-canonical last character (nonzero padding bits)",
    cookie: ({ token }) => `sid=${token.slice(0, 42)}${"AEIMQUYcgkosw048".includes(token[42]) ? "B" : token[42]}`,
    expect: refused
  },
  { name: "wrong alphabet: Latin-1 letters", cookie: ({ token }) => `sid=\u00e9${token.slice(1)}`, expect: refused },
  // control characters
  {
    name: "control character: SOH (refused by Node's parser)",
    cookie: ({ token }) => `sid=${token.slice(0, 20)}\x01${token.slice(21)}`,
    raw: true,
    expect: { _tag: "refusedByNode", status: 400 }
  },
  {
    name: "control character: NUL (refused by Node's parser)",
    cookie: ({ token }) => `sid=${token}\x00`,
    raw: true,
    expect: { _tag: "refusedByNode", status: 400 }
  },
  {
    name: "control character: DEL (refused by Node's parser)",
    cookie: ({ token }) => `sid=${token}\x7f`,
    raw: true,
    expect: { _tag: "refusedByNode", status: 400 }
  },
  {
    name: "control character: HTAB inside the value (passes Node)",
    cookie: ({ token }) => `sid=${token.slice(0, 20)}\t${token.slice(21)}`,
    raw: true,
    expect: refused
  },
  // percent escapes and quotes: never decoded, never unquoted
  { name: "bad percent-escape: %ZZ", cookie: ({ token }) => `sid=%ZZ${token.slice(3)}`, expect: refused },
  { name: "bad percent-escape: truncated %4", cookie: ({ token }) => `sid=${token.slice(0, 41)}%4`, expect: refused },
  {
    name: "percent-encoded valid token (a lenient parser decodes it to the live token)",
    cookie: ({ token }) => `sid=${hex(token[0])}${token.slice(1)}`,
    expect: refused
  },
  {
    name: "percent-encoded valid token, every character",
    cookie: ({ token }) => `sid=${[...token].map(hex).join("")}`,
    expect: refused
  },
  { name: "quoted valid token", cookie: ({ token }) => `sid="${token}"`, expect: refused },
  { name: "single-quoted valid token", cookie: ({ token }) => `sid='${token}'`, expect: refused },
  // duplicates: cookie tossing
  { name: "duplicate: the same token twice", cookie: ({ token }) => `sid=${token}; sid=${token}`, expect: ambiguous },
  {
    name: "duplicate: a tossed token before the live one",
    cookie: ({ forged, token }) => `sid=${forged}; sid=${token}`,
    expect: ambiguous
  },
  {
    name: "duplicate: the live token and an empty one",
    cookie: ({ token }) => `sid=${token}; sid=`,
    expect: ambiguous
  },
  {
    name: "duplicate: the live token and a malformed one",
    cookie: ({ token }) => `sid=${token}; a=1; sid=x`,
    expect: ambiguous
  },
  {
    name: "duplicate: a whitespace variant of the name",
    cookie: ({ token }) => `sid=${token}; sid =${token}`,
    expect: ambiguous
  },
  // near-miss names
  { name: "near-miss name: SID", cookie: ({ token }) => `SID=${token}`, expect: fresh },
  { name: "near-miss name: Sid", cookie: ({ token }) => `Sid=${token}`, expect: fresh },
  { name: "near-miss name: sid_", cookie: ({ token }) => `sid_=${token}`, expect: fresh },
  { name: "near-miss name: NBSP before", cookie: ({ token }) => `\u00a0sid=${token}`, raw: true, expect: fresh },
  { name: "near-miss name: NBSP after", cookie: ({ token }) => `sid\u00a0=${token}`, raw: true, expect: fresh },
  {
    name: "near-miss name: UTF-8 ideographic space before",
    cookie: ({ token }) => `a=1; ${Buffer.from("\u3000", "utf8").toString("latin1")}sid=${token}`,
    raw: true,
    expect: fresh
  },
  {
    name: "near-miss name: NBSP-named duplicate beside the live cookie is another cookie",
    cookie: ({ forged, token }) => `\u00a0sid=${forged}; sid=${token}`,
    raw: true,
    expect: served
  },
  {
    name: "not a near miss: SP and HTAB around name and value are optional whitespace",
    cookie: ({ token }) => `a=1;\t sid \t= ${token} ;b=2`,
    raw: true,
    expect: served
  },
  // prototype names
  {
    name: "prototype names only",
    cookie: ({ token }) => `__proto__=${token}; constructor=${token}; prototype=${token}; toString=${token}`,
    expect: fresh
  },
  {
    name: "prototype names around the session",
    cookie: ({ token }) => `__proto__=x; constructor={}; sid=${token}; hasOwnProperty=1`,
    expect: served
  },
  // thousands of pairs
  {
    name: "thousands of pairs, then the session",
    cookie: ({ token }) => `${pairs(3000, "a=1")}; sid=${token}`,
    expect: served
  },
  { name: "thousands of pairs without the session", cookie: () => pairs(3000, "a=1"), expect: fresh },
  { name: "thousands of empty pairs", cookie: ({ token }) => `${";".repeat(12000)}sid=${token}`, expect: served },
  {
    name: "thousands of session cookies",
    cookie: ({ token }) => `${pairs(2000, "sid=1")}; sid=${token}`,
    expect: ambiguous
  },
  // well-formed values the server did not mint
  {
    name: "forged: a well-formed token nobody minted",
    cookie: ({ forged }) => `sid=${forged}`,
    expect: refusedAfterLookup
  },
  {
    name: "the store key of the live session presented as a token",
    cookie: ({ token }) => `sid=${SessionToken.hash(token)}`,
    expect: refusedAfterLookup
  }
]

describe("cookie header bad input", () => {
  for (const row of rows) {
    it.live(row.name, () =>
      Effect.gen(function*() {
        const port = yield* serverPort
        const minted = yield* request("GET", "/save")
        const token = cookieValue(minted)!
        const live = { ...json(minted), opened: false }
        expect(SessionToken.isWellFormed(token)).toBe(true)
        const header = row.cookie({ token, forged: forgedToken() })
        const { authCalls, reply, storeCalls } = yield* observe(
          row.raw === true || header === undefined
            ? rawGet(port, "/", header)
            : request("GET", "/", { cookie: header })
        )
        const validated = authCalls.filter((call) => call._tag === "validateSession")
        const authenticated = authCalls.filter((call) => call._tag === "authenticate")
        switch (row.expect._tag) {
          case "served": {
            expect(reply.status).toBe(200)
            expect(json(reply)).toEqual(live)
            expect(storeCalls).toEqual({ touch: 1 })
            expect(validated).toEqual([{ _tag: "validateSession", key: SessionToken.hash(token), result: "accepted" }])
            expect(authenticated).toEqual([])
            // touched moments ago: not due, so no rolling refresh
            expect(reply.setCookies).toEqual([])
            break
          }
          case "fresh":
          case "refused":
          case "refusedAfterLookup": {
            expect(reply.status).toBe(200)
            expect(json(reply)).toEqual({
              principal: "anonymous",
              anonymous: true,
              opened: true,
              stored: false,
              id: ""
            })
            // the presented value never reached the store, or reached it once (well-formed) and was unknown
            expect(storeCalls).toEqual(row.expect._tag === "refusedAfterLookup" ? { touch: 1 } : {})
            expect(validated).toEqual([])
            expect(authenticated).toEqual([{ _tag: "authenticate", result: "ok", principalId: "anonymous" }])
            if (row.expect._tag === "fresh") {
              expect(reply.setCookies).toEqual([])
            } else {
              // the bad cookie is expired (the next request will not present it again)
              expect(reply.setCookies).toEqual(["sid=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax"])
              expect(reply.headers["cache-control"]).toBe("no-store")
            }
            break
          }
          case "ambiguous": {
            expect(reply.status).toBe(401)
            expect(reply.setCookies).toEqual(["sid=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax"])
            expect(storeCalls).toEqual({})
            expect(authCalls).toEqual([])
            break
          }
          case "refusedByNode": {
            expect(reply.status).toBe(row.expect.status)
            expect(reply.setCookies).toEqual([])
            expect(storeCalls).toEqual({})
            expect(authCalls).toEqual([])
            break
          }
        }
        // the live session is untouched by whatever the row sent
        const after = yield* request("GET", "/", { cookie: `sid=${token}` })
        expect(json(after)).toEqual(live)
      }).pipe(Effect.provide(serve())))
  }
})

describe("cookie header bad input with onInvalid: unauthorized", () => {
  const options = { http: { cookie: { secure: false }, onInvalid: "unauthorized" } } satisfies Parameters<
    typeof serve
  >[1]
  const expired = (reply: Reply) => {
    expect(cookieValue(reply)).toBe("")
    expect(cookieAttributes(reply)).toEqual(
      expect.arrayContaining(["Max-Age=0", "Path=/", "HttpOnly", "SameSite=Lax"])
    )
  }
  const cases: ReadonlyArray<readonly [string, (given: Given) => string | undefined, "open" | "401" | "ambiguous"]> = [
    ["missing: a new session, stored on write", () => undefined, "open"],
    ["empty value: a new session, stored on write", () => "sid=", "open"],
    ["malformed: 401, cookie expired, store not consulted", () => "sid=%ZZ", "401"],
    ["quoted: 401, cookie expired", ({ token }) => `sid="${token}"`, "401"],
    ["forged: 401, cookie expired", ({ forged }) => `sid=${forged}`, "401"],
    ["duplicate: 401, the addressable copy expired", ({ token }) => `sid=${token}; sid=${token}`, "ambiguous"]
  ]
  for (const [name, cookie, outcome] of cases) {
    it.live(name, () =>
      Effect.gen(function*() {
        const minted = yield* request("GET", "/save")
        const token = cookieValue(minted)!
        const header = cookie({ token, forged: forgedToken() })
        const probe = yield* StoreProbe
        yield* probe.reset
        const reply = yield* request("GET", "/save", header === undefined ? {} : { cookie: header })
        const calls = yield* probe.calls
        if (outcome === "open") {
          expect(reply.status).toBe(200)
          expect(json(reply).opened).toBe(true)
          expect(calls).toEqual({ insert: 1 })
        } else if (outcome === "401") {
          expect(reply.status).toBe(401)
          expired(reply)
          expect(calls.insert).toBeUndefined()
          expect(calls.touch ?? 0).toBe(name.startsWith("forged") ? 1 : 0)
        } else {
          expect(reply.status).toBe(401)
          expired(reply)
          expect(calls).toEqual({})
        }
      }).pipe(Effect.provide(serve(undefined, options))))
  }
})

describe("HttpSession.layer options are the ones under test", () => {
  it("default cookie name", () => {
    expect(HttpSession.defaults.cookieName).toBe("sid")
  })
})
