/**
 * The strict session-cookie reader on its own: what it accepts, what it refuses, and that it stays
 * linear on hostile headers. The HTTP-level table (`bad-cookie.test.ts`) and the property test (`hostile-cookies.test.ts`) checks the same family
 * through a real server.
 */
import { Cookies } from "@effect/platform"
import { describe, expect, it } from "@effect/vitest"
import * as cookie from "../../src/internal/http/cookie.js"

const token = "q1w2e3r4t5y6u7i8o9p0a1s2d3f4g5h6j7k8l9z0xcA"

describe("cookie.lookup", () => {
  const cases: ReadonlyArray<readonly [string, string | undefined, cookie.Lookup]> = [
    ["no header", undefined, { _tag: "Missing" }],
    ["empty header", "", { _tag: "Missing" }],
    ["only the name, no =", "sid", { _tag: "Missing" }],
    ["empty value", "sid=", { _tag: "Missing" }],
    ["empty value with spaces", "sid=  ", { _tag: "Missing" }],
    ["the value", `sid=${token}`, { _tag: "Present", value: token }],
    ["among others", `a=1; sid=${token}; b=2`, { _tag: "Present", value: token }],
    ["no space after ;", `a=1;sid=${token};b=2`, { _tag: "Present", value: token }],
    ["SP and HTAB around name and value", `a=1; \tsid \t= ${token}\t ;b`, { _tag: "Present", value: token }],
    ["trailing ;", `sid=${token};`, { _tag: "Present", value: token }],
    ["quoted: kept as is", `sid="${token}"`, { _tag: "Present", value: `"${token}"` }],
    ["percent escapes: not decoded", `sid=%41${token.slice(1)}`, { _tag: "Present", value: `%41${token.slice(1)}` }],
    ["= inside the value: kept", `sid=${token}==`, { _tag: "Present", value: `${token}==` }],
    ["comma-joined: one value", `sid=${token}, b=2`, { _tag: "Present", value: `${token}, b=2` }],
    ["case differs", `SID=${token}`, { _tag: "Missing" }],
    ["name prefix", `sidx=${token}`, { _tag: "Missing" }],
    ["name suffix", `xsid=${token}`, { _tag: "Missing" }],
    ["NBSP before the name is not whitespace", `\u00a0sid=${token}`, { _tag: "Missing" }],
    ["NBSP after the name", `sid\u00a0=${token}`, { _tag: "Missing" }],
    ["ideographic space", `\u3000sid=${token}`, { _tag: "Missing" }],
    ["BOM", `\ufeffsid=${token}`, { _tag: "Missing" }],
    ["prototype names", `__proto__=${token}; constructor=${token}; toString=1`, { _tag: "Missing" }],
    ["twice", `sid=${token}; sid=${token}`, { _tag: "Ambiguous", count: 2 }],
    ["twice, one empty", `sid=; sid=${token}`, { _tag: "Ambiguous", count: 2 }],
    ["twice, whitespace variant", `sid=${token}; sid =x`, { _tag: "Ambiguous", count: 2 }],
    ["only separators", ";;;; ;=;=", { _tag: "Missing" }],
    ["= before the name's pair", `=x; sid=${token}`, { _tag: "Present", value: token }]
  ]
  for (const [name, header, expected] of cases) {
    it(name, () => {
      expect(cookie.lookup(header, "sid")).toEqual(expected)
    })
  }

  it("does not use the lenient platform parser (which would accept these)", () => {
    // Cookies.parseHeader trims Unicode spaces, unquotes, percent-decodes and keeps the first duplicate
    expect(Cookies.parseHeader(`\u00a0sid=${token}`)["sid"]).toBe(token)
    expect(Cookies.parseHeader(`sid="${token}"`)["sid"]).toBe(token)
    expect(Cookies.parseHeader(`sid=${token}; sid=other`)["sid"]).toBe(token)
    expect(cookie.lookup(`\u00a0sid=${token}`, "sid")._tag).toBe("Missing")
    expect(cookie.lookup(`sid=${token}; sid=other`, "sid")._tag).toBe("Ambiguous")
  })

  it("refuses a header over the limit without reading it", () => {
    const header = `sid=${token}; pad=${"x".repeat(cookie.MAX_HEADER_LENGTH)}`
    expect(cookie.lookup(header, "sid")).toEqual({ _tag: "Oversized", length: header.length })
    expect(cookie.lookup(`sid=${token}; pad=${"x".repeat(15 * 1024)}`, "sid")).toEqual({
      _tag: "Present",
      value: token
    })
  })

  it("matches a name made of any token characters, byte for byte", () => {
    expect(cookie.lookup(`__Host-sid=${token}; sid=1`, "__Host-sid")).toEqual({ _tag: "Present", value: token })
    expect(cookie.lookup(`__host-sid=${token}`, "__Host-sid")).toEqual({ _tag: "Missing" })
  })

  // Linear time: hostile shapes at 1 MB (the limit raised for the test) stay far below a quadratic cost.
  const hostile: ReadonlyArray<readonly [string, (n: number) => string]> = [
    ["many pairs", (n) => Array.from({ length: n / 8 }, (_, i) => `k${i}=v`).join("; ") + `; sid=${token}`],
    ["many separators then one =", (n) => ";".repeat(n) + "sid=x"],
    ["no separator, many =", (n) => "sid" + "=".repeat(n)],
    ["many pairs without =", (n) => "a;".repeat(n / 2) + "b=1"],
    ["many duplicates", (n) => "sid=1;".repeat(n / 6)],
    ["long whitespace runs", (n) => "sid" + " ".repeat(n / 2) + "=" + " ".repeat(n / 2) + "x"]
  ]
  for (const [name, make] of hostile) {
    it(`is linear: ${name}`, () => {
      const size = 1024 * 1024
      const header = make(size)
      const started = performance.now()
      for (let i = 0; i < 5; i++) cookie.lookup(header, "sid", Infinity)
      const elapsed = (performance.now() - started) / 5
      // a quadratic scan of 1 MB takes minutes; a linear one a few milliseconds
      expect(elapsed).toBeLessThan(250)
    })
  }
})

describe("cookie attribute checks", () => {
  it("names", () => {
    expect(cookie.isValidName("sid")).toBe(true)
    expect(cookie.isValidName("__Host-sid")).toBe(true)
    for (const bad of ["", "a b", "a;b", "a=b", "a,b", "é", "a\tb", "x".repeat(257), "a\"b", "a(b"]) {
      expect(cookie.isValidName(bad), bad).toBe(false)
    }
  })
  it("paths", () => {
    expect(cookie.isValidPath("/")).toBe(true)
    expect(cookie.isValidPath("/app/v1")).toBe(true)
    for (const bad of ["", "app", "/a;b", "/a b", "/a\nb", "/é", `/${"x".repeat(1024)}`]) {
      expect(cookie.isValidPath(bad), bad).toBe(false)
    }
  })
  it("domains", () => {
    expect(cookie.isValidDomain("example.com")).toBe(true)
    expect(cookie.isValidDomain(".example.com")).toBe(true)
    for (
      const bad of ["", "exa mple.com", "example.com;", "-a.com", "a..com", "a.com.", "é.com", "a".repeat(64) + ".com"]
    ) {
      expect(cookie.isValidDomain(bad), bad).toBe(false)
    }
  })
  it("redirects", () => {
    expect(cookie.isValidRedirect("/login")).toBe(true)
    expect(cookie.isValidRedirect("/login?next=%2F")).toBe(true)
    expect(cookie.isValidRedirect("https://auth.example.com/login")).toBe(true)
    for (const bad of ["", "//evil.example", "/\\evil.example", "javascript:alert(1)", "login", "/a b", "/a\r\nb"]) {
      expect(cookie.isValidRedirect(bad), bad).toBe(false)
    }
  })
  it("paths of request URLs", () => {
    expect(cookie.requestPath("/login?next=/")).toBe("/login")
    expect(cookie.requestPath("/login#x")).toBe("/login")
    expect(cookie.pathOf("https://auth.example.com/login?x")).toBe("/login")
  })
})
