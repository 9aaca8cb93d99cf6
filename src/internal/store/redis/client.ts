/**
 * The connection side of the Redis store: client options, connection monitoring, the scripts
 * defined on the client (`defineCommand`: EVALSHA with ioredis' own NOSCRIPT fallback) and the one
 * Effect step each call costs.
 *
 * @internal
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Redacted from "effect/Redacted"
import * as Runtime from "effect/Runtime"
import type * as Scope from "effect/Scope"
import type { ClusterOptions, RedisOptions } from "ioredis"
import { Cluster, Redis } from "ioredis"
import { SessionStoreError } from "../../../SessionError.js"
import { makeLookups, noReason } from "./lookups.js"
import type * as scripts from "./scripts.js"
import { all as allScripts, readMany } from "./scripts.js"
import { defaults, duration, type Options, type Settings } from "./settings.js"

/** A client the store runs on: a single Redis (or Sentinel) connection, or a Redis Cluster. @internal */
export type Client = Redis | Cluster

/** The commands of a lookup, which the store gathers itself (lookups.ts), not ioredis' pipelining. */
const lookupCommands = ["hmget", readMany.name]

/** The client options the layer uses: fail fast while Redis is away, reconnect for ever. @internal */
export const clientOptions = (commandTimeout: number, connectTimeout: number, autoPipelining = true): RedisOptions => ({
  commandTimeout,
  connectTimeout,
  // Commands issued in the same tick leave in one write: concurrent requests share syscalls.
  // Lookups are gathered by the store itself (lookups.ts): one command per tick and bucket.
  enableAutoPipelining: autoPipelining,
  autoPipeliningIgnoredCommands: lookupCommands,
  // No queue while disconnected: a command fails at once (Unavailable) instead of waiting.
  enableOfflineQueue: false,
  // Commands in flight when the connection drops fail at once; never resent after a reconnect (a
  // resent `remove` or `insert` could run twice).
  maxRetriesPerRequest: 0,
  autoResendUnfulfilledCommands: false,
  // Keep reconnecting, backing off up to 1 second.
  retryStrategy: (times) => Math.min(50 * times, 1000)
})

/** The cluster client options the layer uses, on top of `clientOptions` for each node. @internal */
export const clusterOptions = (node: RedisOptions, autoPipelining = true): ClusterOptions => ({
  redisOptions: node,
  enableAutoPipelining: autoPipelining,
  autoPipeliningIgnoredCommands: lookupCommands,
  enableOfflineQueue: false,
  // After a failover, commands to the lost master fail (typed) until the slots are refreshed:
  // refreshed at once on a MOVED reply or a lost node, and every 2 seconds besides.
  slotsRefreshInterval: 2000,
  retryDelayOnFailover: 100,
  retryDelayOnClusterDown: 100,
  clusterRetryStrategy: (times) => Math.min(100 * times, 1000)
})

/**
 * Logs connection trouble once per outage (ioredis emits an error on every reconnect attempt) and
 * the recovery; also makes sure no 'error' event is ever unhandled. Returns the detach function.
 *
 * @internal
 */
export const monitor = (client: Client, runtime: Runtime.Runtime<never>): () => void => {
  const log = (effect: Effect.Effect<void>) => Runtime.runFork(runtime)(effect)
  let down = false
  const onError = (error: unknown) => {
    if (down) return
    down = true
    log(
      Effect.logWarning("session store: Redis connection lost; reconnecting").pipe(
        Effect.annotateLogs("error", error instanceof Error ? error.message : String(error))
      )
    )
  }
  const onReady = () => {
    if (!down) return
    down = false
    log(Effect.logInfo("session store: Redis connection restored"))
  }
  client.on("error", onError)
  client.on("ready", onReady)
  // a cluster reports errors of its nodes as "node error"
  client.on("node error", onError)
  return () => {
    client.off("error", onError)
    client.off("ready", onReady)
    client.off("node error", onError)
  }
}

/** Waits up to `timeoutMs` for the client to be ready; logs a warning and goes on if it is not. @internal */
export const waitReady = (client: Client, timeoutMs: number): Effect.Effect<void> =>
  Effect.async<boolean>((resume) => {
    if (client.status === "ready") return resume(Effect.succeed(true))
    const onReady = () => resume(Effect.succeed(true))
    client.once("ready", onReady)
    return Effect.sync(() => client.off("ready", onReady))
  }).pipe(
    Effect.timeout(Duration.millis(timeoutMs)),
    Effect.orElseSucceed(() => false),
    Effect.withClock(Clock.make()),
    Effect.flatMap((ready) =>
      ready ? Effect.void : Effect.logWarning("session store: Redis is not reachable yet; operations fail until it is")
    )
  )

const plain = (url: string | Redacted.Redacted<string>) => Redacted.isRedacted(url) ? Redacted.value(url) : url

/** Opens the layer's client (a Cluster when `nodes` are given), closed with the scope. @internal */
export const acquireClient = (options: Options, settings: Settings): Effect.Effect<Client, never, Scope.Scope> =>
  Effect.gen(function*() {
    const connectTimeout = Either.getOrElse(
      duration("connectTimeout", options.connectTimeout, defaults.connectTimeout),
      () => 5000
    )
    const runtime = yield* Effect.runtime<never>()
    const pipelining = options.autoPipelining ?? true
    const client = yield* Effect.acquireRelease(
      Effect.sync((): Client => {
        const node: RedisOptions = {
          ...clientOptions(settings.commandTimeout, connectTimeout, pipelining),
          ...options.redis
        }
        const created: Client = options.nodes !== undefined
          ? new Cluster(
            options.nodes.map((url) => {
              const parsed = new URL(plain(url))
              return { host: parsed.hostname, port: Number(parsed.port || 6379) }
            }),
            {
              ...clusterOptions({ ...node, ...credentials(options.nodes[0]) }, pipelining),
              ...options.cluster
            }
          )
          : options.url === undefined
          ? new Redis(node)
          : new Redis(plain(options.url), node)
        // Attached before any I/O can happen: no 'error' event is ever unhandled.
        monitor(created, runtime)
        return created
      }),
      (client) =>
        Effect.tryPromise(() => client.quit()).pipe(
          Effect.timeout(Duration.millis(settings.commandTimeout)),
          Effect.ignore,
          Effect.ensuring(Effect.sync(() => client.disconnect())),
          Effect.withClock(Clock.make())
        )
    )
    // Wait (bounded) for the first connection, so the first requests do not fail for nothing. If
    // Redis is not there yet, go on: operations fail with `Unavailable` until it is.
    yield* waitReady(client, connectTimeout)
    return client
  })

/** The user name and password of a cluster node URL, for every node. */
const credentials = (url: string | Redacted.Redacted<string> | undefined): RedisOptions => {
  if (url === undefined) return {}
  const parsed = new URL(plain(url))
  return {
    ...(parsed.username === "" ? {} : { username: decodeURIComponent(parsed.username) }),
    ...(parsed.password === "" ? {} : { password: decodeURIComponent(parsed.password) }),
    ...(parsed.protocol === "rediss:" ? { tls: {} } : {})
  }
}

const isTimeout = (cause: unknown) => cause instanceof Error && /timed? ?out/i.test(cause.message)

/** @internal */
export const storeError = (operation: string, cause: unknown): SessionStoreError =>
  new SessionStoreError({ reason: isTimeout(cause) ? "Timeout" : "Unavailable", operation, cause }, true)

/** Out of memory: Redis refused a write. @internal */
export const isOutOfMemory = (cause: unknown): boolean => cause instanceof Error && cause.message.startsWith("OOM")

/** A value of another type under a session key. @internal */
export const isWrongType = (cause: unknown): boolean => cause instanceof Error && cause.message.startsWith("WRONGTYPE")

type Call = (...args: Array<string>) => Promise<unknown>

/**
 * Defines the scripts on the client (ioredis sends EVALSHA and falls back to EVAL on NOSCRIPT) and
 * returns a caller: one Effect step per call, the reply parsed in the same step. A client without
 * a `commandTimeout` gets a deadline timer per call instead (network time, on the wall clock, not
 * the session `Clock` that tests drive; a plain timer: an Effect timeout costs ~150 µs a call).
 *
 * @internal
 */
export const commands = (client: Client, settings: Settings) => {
  const defined = client as unknown as Record<string, Call>
  for (const script of allScripts) {
    if (typeof defined[script.name] !== "function") {
      client.defineCommand(
        script.name,
        script.keys === null ? { lua: script.lua } : { numberOfKeys: script.keys, lua: script.lua }
      )
    }
  }
  const options = client instanceof Cluster ? client.options.redisOptions : client.options
  const clientTimeout = options?.commandTimeout
  const deadline = typeof clientTimeout === "number" && clientTimeout > 0 ? undefined : settings.commandTimeout + 500

  const bounded = deadline === undefined
    ? (promise: Promise<unknown>) => promise
    : (promise: Promise<unknown>) =>
      new Promise<unknown>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error("Command timed out (session store deadline)")), deadline)
        promise.then(
          (value) => {
            clearTimeout(timer)
            resolve(value)
          },
          (error) => {
            clearTimeout(timer)
            reject(error)
          }
        )
      })

  /**
   * Starts a command with `start`, then runs `parse` on its reply, in one Effect step: `parse`
   * answers with the effect to go on with (an `Exit` for a final answer). A reply `parse` rejects
   * (it throws) is `Unavailable`; `recover` may answer a failed command instead of the error.
   */
  const settled = <A, E>(
    operation: string,
    start: (done: (error: unknown, reply?: unknown) => void) => void,
    parse: (reply: unknown) => Effect.Effect<A, E | SessionStoreError>,
    recover?: (cause: unknown) => Effect.Effect<A, E | SessionStoreError> | undefined
  ): Effect.Effect<A, E | SessionStoreError> =>
    Effect.async<A, E | SessionStoreError>((resume) => {
      const done = (cause: unknown, reply?: unknown) => {
        if (cause !== undefined) return resume(recover?.(cause) ?? Exit.fail(storeError(operation, cause)))
        let next: Effect.Effect<A, E | SessionStoreError>
        try {
          next = parse(reply)
        } catch (cause) {
          next = Exit.fail(new SessionStoreError({ reason: "Unavailable", operation, cause }, true))
        }
        resume(next)
      }
      try {
        start(done)
      } catch (cause) {
        done(cause)
      }
    })

  /** Runs the command `issue` sends, then `parse` on its reply (see `settled`). */
  const attempt = <A, E>(
    operation: string,
    issue: () => Promise<unknown>,
    parse: (reply: unknown) => Effect.Effect<A, E | SessionStoreError>,
    recover?: (cause: unknown) => Effect.Effect<A, E | SessionStoreError> | undefined
  ): Effect.Effect<A, E | SessionStoreError> =>
    settled(
      operation,
      (done) => {
        bounded(issue()).then((reply) => done(undefined, reply), (cause) => done(cause ?? noReason))
      },
      parse,
      recover
    )

  const lookups = makeLookups(client, bounded)

  return {
    attempt,
    /**
     * Reads the record at `key` (HMGET of its JSON text, format version and revocation mark) with
     * the other lookups of the same tick in bucket `base` (lookups.ts), then `parse`s the reply.
     */
    lookup: <A, E>(
      operation: string,
      base: string,
      key: string,
      parse: (reply: unknown) => Effect.Effect<A, E | SessionStoreError>,
      recover?: (cause: unknown) => Effect.Effect<A, E | SessionStoreError> | undefined
    ): Effect.Effect<A, E | SessionStoreError> =>
      settled(operation, (done) => lookups(base, key, done), parse, recover),
    /** Runs a script with its keys and arguments. */
    run: <A, E>(
      operation: string,
      script: scripts.Script,
      args: ReadonlyArray<string>,
      parse: (reply: unknown) => Effect.Effect<A, E | SessionStoreError>,
      recover?: (cause: unknown) => Effect.Effect<A, E | SessionStoreError> | undefined
    ): Effect.Effect<A, E | SessionStoreError> =>
      attempt(operation, () => defined[script.name](...args), parse, recover)
  }
}
