/**
 * A throwaway `redis-server` on loopback for the Redis tests.
 *
 * - With `REDIS_URL` set, the tests use that server (they only touch keys under fresh prefixes),
 *   and the tests that stop or restart Redis are skipped.
 * - Otherwise `redis-server` from PATH is started on a free loopback port, without persistence,
 *   and stopped by pid. Missing `redis-server`: the suite fails when `CI` is set (never skipped in
 *   CI) and is skipped with a message otherwise.
 */
import { Redis } from "ioredis"
import { type ChildProcess, spawn, spawnSync } from "node:child_process"
import { randomBytes } from "node:crypto"
import * as net from "node:net"

export interface RedisServer {
  readonly url: string
  readonly port: number
  /** Whether this process started it (and so can stop and restart it). */
  readonly owned: boolean
  /** Kills the server (SIGKILL) and waits for it to exit. */
  readonly kill: () => Promise<void>
  /** Starts it again on the same port (empty: no persistence). */
  readonly restart: () => Promise<void>
  /** Stops it for good. */
  readonly stop: () => Promise<void>
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

export const redisServerAvailable = (): boolean => {
  const probe = spawnSync("redis-server", ["--version"], { stdio: "ignore" })
  return probe.error === undefined && probe.status === 0
}

/** A fresh key prefix, so tests sharing one server never see each other's sessions. */
export const freshPrefix = (name = "t"): string => `test-${name}-${randomBytes(6).toString("hex")}`

export const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = net.createServer()
    server.unref()
    server.on("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      const port = typeof address === "object" && address !== null ? address.port : 0
      server.close(() => resolve(port))
    })
  })

/** Answers PING within `timeoutMs`, or false. */
export const ping = async (url: string, timeoutMs = 500): Promise<boolean> => {
  const client = new Redis(url, {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    connectTimeout: timeoutMs,
    commandTimeout: timeoutMs,
    retryStrategy: () => null
  })
  client.on("error", () => {})
  try {
    await client.connect()
    return (await client.ping()) === "PONG"
  } catch {
    return false
  } finally {
    client.disconnect()
  }
}

const waitUntil = async (check: () => Promise<boolean>, what: string, timeoutMs = 10_000) => {
  const deadline = Date.now() + timeoutMs
  for (let i = 0; i < 200 && Date.now() < deadline; i++) {
    if (await check()) return
    await sleep(50)
  }
  throw new Error(`timed out waiting for ${what}`)
}

const spawnServer = (port: number): ChildProcess => {
  const child = spawn(
    "redis-server",
    [
      "--port",
      String(port),
      "--bind",
      "127.0.0.1",
      "--save",
      "",
      "--appendonly",
      "no",
      "--protected-mode",
      "yes",
      "--maxmemory-policy",
      "noeviction",
      "--loglevel",
      "warning"
    ],
    { stdio: ["ignore", "ignore", "inherit"] }
  )
  child.on("error", () => {})
  // never leave a server behind, even when this process ends abruptly
  const cleanup = () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL")
  }
  process.once("exit", cleanup)
  child.once("exit", () => process.off("exit", cleanup))
  return child
}

export const exited = (child: ChildProcess, timeoutMs: number): Promise<boolean> =>
  child.exitCode !== null || child.signalCode !== null
    ? Promise.resolve(true)
    : new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs)
      child.once("exit", () => {
        clearTimeout(timer)
        resolve(true)
      })
    })

export const killChild = async (child: ChildProcess | undefined, signal: NodeJS.Signals) => {
  if (child === undefined || child.pid === undefined) return
  if (child.exitCode !== null || child.signalCode !== null) return
  process.kill(child.pid, signal)
  if (!(await exited(child, 5000))) {
    process.kill(child.pid, "SIGKILL")
    await exited(child, 5000)
  }
}

/**
 * The server for one test file, or `undefined` when the suite must be skipped (no `redis-server`
 * outside CI). In CI, a missing `redis-server` throws.
 */
export const startRedis = async (): Promise<RedisServer | undefined> => {
  const external = process.env.REDIS_URL
  if (external !== undefined && external !== "") {
    if (!(await ping(external, 2000))) throw new Error(`REDIS_URL is set but does not answer PING`)
    const unsupported = () => Promise.reject(new Error("cannot stop a Redis given by REDIS_URL"))
    return {
      url: external,
      port: Number(new URL(external).port || 6379),
      owned: false,
      kill: unsupported,
      restart: unsupported,
      stop: () => Promise.resolve()
    }
  }
  if (!redisServerAvailable()) {
    if (process.env.CI) {
      throw new Error(
        "redis-server is not on PATH: the Redis suites cannot be skipped in CI (apt-get install -y redis-server)"
      )
    }
    console.warn("SKIPPING the Redis suites: redis-server is not on PATH (apt-get install -y redis-server)")
    return undefined
  }
  return spawnRedis(await freePort())
}

/** Starts `redis-server` on a given loopback port (it must be on PATH). */
export const spawnRedis = async (port: number): Promise<RedisServer> => {
  const url = `redis://127.0.0.1:${port}`
  let child: ChildProcess | undefined
  const start = async () => {
    child = spawnServer(port)
    try {
      await waitUntil(() => ping(url), `redis-server on port ${port}`)
    } catch (error) {
      await killChild(child, "SIGKILL")
      throw error
    }
  }
  await start()
  return {
    url,
    port,
    owned: true,
    kill: () => killChild(child, "SIGKILL"),
    restart: async () => {
      await killChild(child, "SIGKILL")
      await start()
    },
    stop: () => killChild(child, "SIGTERM")
  }
}
