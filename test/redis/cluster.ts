/**
 * A throwaway Redis Cluster on loopback for the cluster suites: `masters` masters with one replica
 * each, on free ports, in a temporary directory, created with `redis-cli --cluster create` and
 * stopped by pid. Missing `redis-server`: as `startRedis` (fails under `CI`, skips otherwise).
 */
import { Redis } from "ioredis"
import { type ChildProcess, execFile, spawn } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { freePort, killChild, ping, redisServerAvailable } from "./server.js"

export interface ClusterNode {
  readonly port: number
  readonly url: string
  /** Kills the node (SIGKILL) and waits for it to exit. */
  readonly kill: () => Promise<void>
}

export interface RedisCluster {
  /** Startup nodes, as `redis://` URLs. */
  readonly urls: ReadonlyArray<string>
  readonly nodes: ReadonlyArray<ClusterNode>
  /** The nodes currently serving slots as masters. */
  readonly masters: () => Promise<ReadonlyArray<ClusterNode>>
  /** Waits until every slot is served again (after a failover). */
  readonly waitHealthy: (timeoutMs?: number) => Promise<void>
  readonly stop: () => Promise<void>
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

const info = async (url: string, section: string): Promise<string> => {
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null })
  client.on("error", () => {})
  try {
    await client.connect()
    return String(await client.call("CLUSTER", section))
  } catch {
    return ""
  } finally {
    client.disconnect()
  }
}

const run = (command: string, args: ReadonlyArray<string>, timeoutMs: number) =>
  new Promise<string>((resolve, reject) => {
    execFile(
      command,
      [...args],
      { timeout: timeoutMs },
      (error, stdout, stderr) =>
        error === null ? resolve(stdout) : reject(new Error(`${command} failed: ${stderr || stdout || error.message}`))
    )
  })

/**
 * Starts a cluster, or `undefined` when the suite must be skipped (no `redis-server` outside CI).
 */
export const startCluster = async (masters = 3): Promise<RedisCluster | undefined> => {
  if (!redisServerAvailable()) {
    if (process.env.CI) {
      throw new Error("redis-server is not on PATH: the Redis Cluster suites cannot be skipped in CI")
    }
    console.warn("SKIPPING the Redis Cluster suites: redis-server is not on PATH (apt-get install -y redis-server)")
    return undefined
  }
  const dir = mkdtempSync(join(tmpdir(), "effect-session-cluster-"))
  const children: Array<ChildProcess> = []
  const cleanup = () => {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL")
  }
  process.once("exit", cleanup)
  const nodes: Array<ClusterNode> = []
  try {
    for (let i = 0; i < masters * 2; i++) {
      const port = await freePort()
      const child = spawn("redis-server", [
        "--port",
        String(port),
        "--bind",
        "127.0.0.1",
        "--cluster-enabled",
        "yes",
        "--cluster-node-timeout",
        "2000",
        // a replica takes over whatever the age of its data (the tests kill masters on purpose)
        "--cluster-replica-validity-factor",
        "0",
        "--cluster-config-file",
        join(dir, `nodes-${port}.conf`),
        "--dir",
        dir,
        "--save",
        "",
        "--appendonly",
        "no",
        "--maxmemory-policy",
        "noeviction",
        "--loglevel",
        "warning"
      ], { stdio: ["ignore", "ignore", "inherit"] })
      child.on("error", () => {})
      children.push(child)
      nodes.push({ port, url: `redis://127.0.0.1:${port}`, kill: () => killChild(child, "SIGKILL") })
    }
    for (const node of nodes) {
      for (let i = 0; !(await ping(node.url)); i++) {
        if (i > 100) throw new Error(`cluster node ${node.port} did not start`)
        await sleep(50)
      }
    }
    await run("redis-cli", [
      "--cluster",
      "create",
      ...nodes.map((node) => `127.0.0.1:${node.port}`),
      "--cluster-replicas",
      "1",
      "--cluster-yes"
    ], 60_000)
  } catch (error) {
    cleanup()
    rmSync(dir, { recursive: true, force: true })
    throw error
  }

  const alive = async () => {
    const up: Array<ClusterNode> = []
    for (const node of nodes) if (await ping(node.url, 300)) up.push(node)
    return up
  }
  /** Every slot served by a live master, each with a replica in sync (when it has one). */
  const healthy = async (): Promise<boolean> => {
    const up = await alive()
    if (up.length === 0) return false
    const states = await Promise.all(up.map((node) => info(node.url, "INFO")))
    if (!states.every((state) => state.includes("cluster_state:ok") && state.includes("cluster_slots_ok:16384"))) {
      return false
    }
    const ports = new Set(up.map((node) => node.port))
    const slots = (await command(up[0].url, ["CLUSTER", "SLOTS"])) as Array<[number, number, [string, number]]>
    if (!slots.every(([, , master]) => ports.has(Number(master[1])))) return false
    const replication = await Promise.all(up.map((node) => command(node.url, ["INFO", "replication"])))
    return replication.every((text) =>
      !String(text).includes("role:slave") || String(text).includes("master_link_status:up")
    )
  }
  const waitHealthy = async (timeoutMs = 30_000) => {
    const deadline = Date.now() + timeoutMs
    while (Date.now() < deadline) {
      if (await healthy()) return
      await sleep(100)
    }
    throw new Error("the cluster did not become healthy in time")
  }
  await waitHealthy()

  const cluster: RedisCluster = {
    urls: nodes.map((node) => node.url),
    nodes,
    masters: async () => {
      const up = await alive()
      const result: Array<ClusterNode> = []
      for (const node of up) {
        if ((await roleOf(node.url)) === "master") result.push(node)
      }
      return result
    },
    waitHealthy,
    stop: async () => {
      await Promise.all(children.map((child) => killChild(child, "SIGTERM")))
      process.off("exit", cleanup)
      rmSync(dir, { recursive: true, force: true })
    }
  }
  return cluster
}

const command = async (url: string, args: ReadonlyArray<string>): Promise<unknown> => {
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null })
  client.on("error", () => {})
  try {
    await client.connect()
    return await client.call(args[0], ...args.slice(1))
  } catch {
    return ""
  } finally {
    client.disconnect()
  }
}

const roleOf = async (url: string): Promise<string> => {
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null })
  client.on("error", () => {})
  try {
    await client.connect()
    const role = (await client.call("ROLE")) as Array<unknown>
    return String(role[0])
  } catch {
    return "down"
  } finally {
    client.disconnect()
  }
}
