/**
 * The data rules, decided here once: what a session may hold (JSON values: finite numbers, strings,
 * booleans, null, arrays and plain objects, nested fewer than 64 levels deep, without cycles; no
 * size limit of its own), how a value is copied into a fresh, frozen one, and how a data patch
 * applies. Used by `Session.encode` / `Session.decode`, by the manager for initial data and
 * `validateSession` replacements, and by the stores.
 *
 * @internal
 */
import type * as Session from "../Session.js"
import type * as SessionStore from "../SessionStore.js"

/** Arrays and objects nest at most this deep. @internal */
export const MAX_DEPTH = 64

/** @internal */
export const notJson: unique symbol = Symbol("notJson")

// The arrays and plain objects directly inside a value: what JSON nests.
const nestedIn = (value: object): ReadonlyArray<object> => {
  const proto = Object.getPrototypeOf(value)
  const items: ReadonlyArray<unknown> = Array.isArray(value)
    ? value
    : proto === Object.prototype || proto === null
    ? Object.values(value)
    : []
  return items.filter((item): item is object => typeof item === "object" && item !== null)
}

/**
 * Whether a value nests arrays or plain objects `MAX_DEPTH` deep or more, or in a cycle. Checked
 * before a schema sees the value: schemas encode and decode recursively, and a hostile depth (10 KB
 * of nested brackets in a JSON body) or a cycle overflows the stack, a RangeError that escapes the
 * fiber. Iterative, and linear: a shared object is walked once (its height is remembered).
 *
 * @internal
 */
export const exceedsDepth = (value: unknown): boolean => {
  if (typeof value !== "object" || value === null) return false
  const heights = new Map<object, number>()
  const onPath = new Set<object>()
  const frames: Array<
    { readonly node: object; readonly children: ReadonlyArray<object>; next: number; height: number }
  > = []
  const enter = (node: object): boolean => {
    if (frames.length >= MAX_DEPTH || onPath.has(node)) return true
    onPath.add(node)
    frames.push({ node, children: nestedIn(node), next: 0, height: 1 })
    return false
  }
  if (enter(value)) return true
  while (frames.length > 0) {
    const frame = frames[frames.length - 1]
    if (frame.next < frame.children.length) {
      const child = frame.children[frame.next++]
      const known = heights.get(child)
      if (known === undefined) {
        if (enter(child)) return true
      } else {
        if (frames.length + known > MAX_DEPTH) return true
        frame.height = Math.max(frame.height, known + 1)
      }
      continue
    }
    frames.pop()
    onPath.delete(frame.node)
    heights.set(frame.node, frame.height)
    if (frames.length > 0) {
      const parent = frames[frames.length - 1]
      parent.height = Math.max(parent.height, frame.height + 1)
    }
  }
  return false
}

// Sets a property as plain data: a "__proto__" key stays data instead of changing the prototype
// (only that name needs defineProperty, which would otherwise cost the object its fast layout).
const define = (target: { [key: string]: unknown }, name: string, value: unknown): void => {
  if (name === "__proto__") {
    Object.defineProperty(target, name, { value, enumerable: true, writable: true, configurable: true })
  } else {
    target[name] = value
  }
}

// A plain object's copy, frozen, or `notJson`. Built key by key: a spread copy would be smaller,
// but freezing one turns it into a dictionary (three times the memory, slower reads).
const copiedObject = (value: { readonly [key: string]: unknown }, depth: number): Session.Json | typeof notJson => {
  const out: { [key: string]: unknown } = {}
  for (const name of Object.keys(value)) {
    const json = toJson(value[name], depth + 1)
    if (json === notJson) return notJson
    define(out, name, json)
  }
  return Object.freeze(out) as Session.Json
}

/**
 * A strict deep copy of a JSON value, frozen (`notJson` for anything else). The caller has bounded
 * the depth (`exceedsDepth`), so the recursion is bounded too; `depth` guards it regardless.
 *
 * @internal
 */
export const toJson = (value: unknown, depth = 0): Session.Json | typeof notJson => {
  switch (typeof value) {
    case "string":
    case "boolean":
      return value
    case "number":
      return Number.isFinite(value) ? value : notJson
    case "object": {
      if (value === null) return null
      if (depth >= MAX_DEPTH) return notJson
      if (Array.isArray(value)) {
        const out: Array<Session.Json> = []
        for (const item of value) {
          const json = toJson(item, depth + 1)
          if (json === notJson) return notJson
          out.push(json)
        }
        return Object.freeze(out)
      }
      const proto = Object.getPrototypeOf(value)
      if (proto !== Object.prototype && proto !== null) return notJson
      return copiedObject(value as { readonly [key: string]: unknown }, depth)
    }
    default:
      return notJson
  }
}

/**
 * Whether a value is JSON and frozen all the way down (what `toJson` makes): it can be shared as
 * it is, no one can change it.
 *
 * @internal
 */
export const isFrozenJson = (value: unknown, depth = 0): boolean => {
  switch (typeof value) {
    case "string":
    case "boolean":
      return true
    case "number":
      return Number.isFinite(value)
    case "object": {
      if (value === null) return true
      if (depth >= MAX_DEPTH || !Object.isFrozen(value)) return false
      if (!Array.isArray(value)) {
        const proto = Object.getPrototypeOf(value)
        if (proto !== Object.prototype && proto !== null) return false
      }
      for (const item of Object.values(value)) if (!isFrozenJson(item, depth + 1)) return false
      return true
    }
    default:
      return false
  }
}

/**
 * A principal checked and copied (frozen), or `notJson`: built as a literal, the smallest layout,
 * and shared as it is when already frozen JSON.
 *
 * @internal
 */
export const checkedPrincipal = (principal: Session.Principal): Session.Principal | typeof notJson => {
  if (isFrozenJson(principal)) return principal
  const { anonymous, attributes, id } = principal
  if (typeof id !== "string" || typeof anonymous !== "boolean") return notJson
  if (attributes === undefined) return Object.freeze({ id, anonymous })
  const copy = checked(attributes)
  if (copy === notJson || typeof copy !== "object" || copy === null || Array.isArray(copy)) return notJson
  return Object.freeze({ id, anonymous, attributes: copy as { readonly [key: string]: Session.Json } })
}

/** A JSON value checked and copied (frozen), or `notJson`: `exceedsDepth` then `toJson`. @internal */
export const checked = (value: unknown): Session.Json | typeof notJson => exceedsDepth(value) ? notJson : toJson(value)

/** The name of the first value of some data that breaks the data rules (`""`: the data itself). @internal */
export class Invalid {
  constructor(readonly name: string) {}
}

/**
 * Session data checked by the rules of `setData` and copied (frozen), or where it breaks them.
 *
 * @internal
 */
export const checkedData = (data: unknown): Session.Data | Invalid => {
  if (typeof data !== "object" || data === null || Array.isArray(data)) return new Invalid("")
  const proto = Object.getPrototypeOf(data)
  if (proto !== Object.prototype && proto !== null) return new Invalid("")
  for (const name of Object.keys(data)) {
    if (checked((data as { readonly [key: string]: unknown })[name]) === notJson) return new Invalid(name)
  }
  return copiedObject(data as { readonly [key: string]: unknown }, 0) as Session.Data
}

/** The value of a data key, `undefined` when absent (own keys only: "__proto__" is data). @internal */
export const valueOf = (data: Session.Data, name: string): Session.Json | undefined =>
  Object.prototype.hasOwnProperty.call(data, name) ? data[name] : undefined

/** The named keys of `data`, those it holds, frozen. @internal */
export const kept = (data: Session.Data, names: ReadonlyArray<string>): Session.Data => {
  const out: { [key: string]: Session.Json } = {}
  for (const name of names) {
    if (Object.prototype.hasOwnProperty.call(data, name)) define(out, name, data[name])
  }
  return Object.freeze(out)
}

/**
 * Applies a data patch to stored data: the new data (frozen), or `undefined` when its `expect`
 * does not match. Values set are stored as given: the manager checked and froze them.
 *
 * @internal
 */
export const applyPatch = (data: Session.Data, patch: SessionStore.DataPatch): Session.Data | undefined => {
  if (patch.expect !== undefined && !jsonEquals(valueOf(data, patch.expect.name), patch.expect.value)) {
    return undefined
  }
  const out: { [key: string]: Session.Json } = {}
  const removed = patch.remove
  for (const name of Object.keys(data)) {
    if (removed === undefined || !removed.includes(name)) define(out, name, data[name])
  }
  for (const [name, value] of patch.set ?? []) define(out, name, value)
  return Object.freeze(out)
}

/** Deep equality of two JSON values. @internal */
export const jsonEquals = (a: Session.Json | undefined, b: Session.Json | undefined): boolean => {
  if (a === b) return true
  if (a === null || b === null || a === undefined || b === undefined) return false
  if (typeof a !== "object" || typeof b !== "object") return false
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false
    for (let i = 0; i < a.length; i++) if (!jsonEquals(a[i], b[i])) return false
    return true
  }
  if (Array.isArray(b)) return false
  const ak = Object.keys(a)
  const bo = b as { readonly [key: string]: Session.Json }
  if (ak.length !== Object.keys(bo).length) return false
  for (const k of ak) {
    if (!Object.prototype.hasOwnProperty.call(bo, k)) return false
    if (!jsonEquals((a as { readonly [key: string]: Session.Json })[k], bo[k])) return false
  }
  return true
}
