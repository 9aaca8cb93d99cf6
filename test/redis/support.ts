/** Helpers shared by the Redis suites. */
import { HttpServerRequest } from "@effect/platform"
import type { Layer } from "effect"
import { Effect, Logger } from "effect"
import { SessionStore } from "effect-session"
import * as RedisStore from "effect-session/SessionStore/Redis"
import { Redis } from "ioredis"
import { freshPrefix } from "./server.js"

/** A request, optionally as a user of the mock auth manager (`x-user` header). */
export const request = (user?: string) =>
  HttpServerRequest.fromWeb(new Request("http://localhost/", { headers: user === undefined ? {} : { "x-user": user } }))

/** A raw client for planting values and inspecting keys. */
export const rawClient = (url: string) => {
  const client = new Redis(url, { maxRetriesPerRequest: 1, lazyConnect: false })
  client.on("error", () => {})
  return client
}

/** Key names of a store, as documented in `SessionStore/Redis`. */
export const keysOf = (prefix: string) => ({
  record: (key: string) => `{${prefix}}:s:${key}`,
  principal: (id: string) => `{${prefix}}:p:${id}`,
  lruAnonymous: `{${prefix}}:lru:anonymous`,
  lruAuthenticated: `{${prefix}}:lru:authenticated`,
  expiry: `{${prefix}}:exp`,
  /** The counter 0.1.0 ordered set entries with (0.2.0 uses the server's time instead). */
  sequence: `{${prefix}}:seq`
})

/** The score of a session in a set whose members are `<sequence>:<key>` (null when absent). */
export const scoreOf = async (client: Redis, set: string, key: string): Promise<string | null> => {
  const entries = await client.zrange(set, 0, -1, "WITHSCORES")
  for (let i = 0; i < entries.length; i += 2) {
    if (entries[i].slice(entries[i].indexOf(":") + 1) === key) return entries[i + 1]
  }
  return null
}

/** Runs `body` with a fresh Redis store (fresh prefix unless given) on a server URL or layer options. */
export const withRedisStore = <A, E>(
  server: string | RedisStore.Options,
  body: (store: SessionStore.Service, prefix: string) => Effect.Effect<A, E>,
  options: RedisStore.StoreOptions = {}
) => {
  const prefix = options.prefix ?? freshPrefix("store")
  return Effect.provide(
    Effect.flatMap(SessionStore.SessionStore, (store) => body(store, prefix)),
    RedisStore.layer({ ...(typeof server === "string" ? { url: server } : server), ...options, prefix })
  )
}

/** Collects log messages (with annotations) into an array. */
export const captureLogs = () => {
  const lines: Array<{ level: string; message: string; annotations: Record<string, unknown> }> = []
  const logger = Logger.make(({ annotations, logLevel, message }) => {
    const text = Array.isArray(message) ? message.map(String).join(" ") : String(message)
    lines.push({ level: logLevel.label, message: text, annotations: Object.fromEntries(annotations) })
  })
  return { lines, layer: Logger.add(logger) as Layer.Layer<never> }
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))
