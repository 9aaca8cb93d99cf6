/**
 * Strict reading of the session cookie from a raw `Cookie` header, and validation of the cookie
 * attributes the HTTP layer writes.
 *
 * The reader never builds an object keyed by cookie names (no prototype keys), never decodes or
 * unquotes values, matches the name byte for byte (only SP and HTAB around names and values are
 * optional whitespace, as in RFC 6265), counts duplicates, and runs in time linear in the header.
 *
 * @internal
 */

/** Longest `Cookie` header read at all (Node's default limit for all headers together is 16 KiB). */
export const MAX_HEADER_LENGTH = 16 * 1024

/** Longest cookie name accepted in the options (name and value together must stay under 4096 bytes). */
export const MAX_NAME_LENGTH = 256

/** Longest `Path` accepted in the options. */
export const MAX_PATH_LENGTH = 1024

/** What the raw header says about the session cookie. */
export type Lookup =
  /** No header, an empty one, no pair with that exact name, or a single empty value (`sid=`). */
  | { readonly _tag: "Missing" }
  /** Exactly one pair with that exact name: its raw value, not yet format-checked. */
  | { readonly _tag: "Present"; readonly value: string }
  /** The name appears more than once (cookie tossing): no value is picked. */
  | { readonly _tag: "Ambiguous"; readonly count: number }
  /** The header is longer than `MAX_HEADER_LENGTH`: not read. */
  | { readonly _tag: "Oversized"; readonly length: number }

/** The one "Missing" answer. */
export const missing: Lookup = { _tag: "Missing" }

const isOws = (code: number) => code === 0x20 || code === 0x09

/**
 * Finds the cookie named `name` in a raw `Cookie` header. Linear: every character is visited a
 * bounded number of times whatever the input (`=` is searched with a pointer that only moves
 * forward), and nothing is allocated per pair except the one value returned.
 */
export const lookup = (
  header: string | undefined,
  name: string,
  maxLength: number = MAX_HEADER_LENGTH
): Lookup => {
  if (header === undefined || header.length === 0) return missing
  if (header.length > maxLength) return { _tag: "Oversized", length: header.length }
  const length = header.length
  let count = 0
  let valueStart = 0
  let valueEnd = 0
  let nextEquals = header.indexOf("=")
  let start = 0
  while (start <= length) {
    let end = header.indexOf(";", start)
    if (end === -1) end = length
    if (nextEquals !== -1 && nextEquals < start) nextEquals = header.indexOf("=", start)
    if (nextEquals !== -1 && nextEquals < end) {
      let nameStart = start
      let nameEnd = nextEquals
      while (nameStart < nameEnd && isOws(header.charCodeAt(nameStart))) nameStart++
      while (nameEnd > nameStart && isOws(header.charCodeAt(nameEnd - 1))) nameEnd--
      if (nameEnd - nameStart === name.length && header.startsWith(name, nameStart)) {
        count++
        valueStart = nextEquals + 1
        valueEnd = end
      }
    }
    start = end + 1
  }
  if (count === 0) return missing
  if (count > 1) return { _tag: "Ambiguous", count }
  while (valueStart < valueEnd && isOws(header.charCodeAt(valueStart))) valueStart++
  while (valueEnd > valueStart && isOws(header.charCodeAt(valueEnd - 1))) valueEnd--
  return valueEnd === valueStart ? missing : { _tag: "Present", value: header.slice(valueStart, valueEnd) }
}

/** RFC 6265 cookie-name: an RFC 7230 token. */
export const isValidName = (name: string): boolean =>
  name.length > 0 && name.length <= MAX_NAME_LENGTH && /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(name)

/** An absolute path of visible ASCII without `;`. */
export const isValidPath = (path: string): boolean =>
  path.length > 0 && path.length <= MAX_PATH_LENGTH && path.startsWith("/") && /^[\x21-\x3a\x3c-\x7e]+$/.test(path)

const label = "[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
const domainRegExp = new RegExp(`^\\.?${label}(?:\\.${label})*$`)

/** A host name (letters, digits, hyphens, dots; an optional leading dot), at most 253 characters. */
export const isValidDomain = (domain: string): boolean => domain.length <= 253 && domainRegExp.test(domain)

/** A same-origin path (`/x`, not `//x` nor `/\x`) or an absolute http(s) URL, for redirects. */
export const isValidRedirect = (location: string): boolean => {
  if (location.length === 0 || location.length > 2048 || /[\u0000-\u0020\u007f-\uffff\\]/.test(location)) {
    return false
  }
  if (location.startsWith("/")) return !location.startsWith("//")
  try {
    const url = new URL(location)
    return url.protocol === "https:" || url.protocol === "http:"
  } catch {
    return false
  }
}

/** The path of a redirect target (for the loop guard), without query or fragment. */
export const pathOf = (location: string): string => {
  try {
    return new URL(location, "http://localhost").pathname
  } catch {
    return location
  }
}

/** The path of a request URL (`/a/b?x` -> `/a/b`). */
export const requestPath = (url: string): string => {
  const query = url.indexOf("?")
  const hash = url.indexOf("#")
  const end = query === -1 ? (hash === -1 ? url.length : hash) : hash === -1 ? query : Math.min(query, hash)
  const path = url.slice(0, end)
  if (path.startsWith("/")) return path
  try {
    return new URL(url).pathname
  } catch {
    return path
  }
}
