/**
 * Case 5b: our store on a local Redis Cluster (3 masters and 3 replicas, started and stopped
 * here, as the tests do), in the one-bucket layout and the spread layout (16 buckets): lookups
 * per second (`getSession`, touch not due) at 1 and 64 in flight, and how the session keys and
 * the store's commands spread over the masters. Every master shares the same cores as the client:
 * on a small machine this cannot show scaling, only the distribution.
 *
 *   node --import tsx src/cases/redis-cluster.ts --seconds 3 --sessions 10000 [--repetitions 2]
 *
 * Prints a Markdown table on stderr and one JSON line on stdout.
 */
import { Redis } from "ioredis"
import { startCluster } from "../../../test/redis/cluster.js"
import { argNumber, argValue } from "../lib/env.js"
import { runJson } from "../lib/proc.js"

const argv = process.argv.slice(2)
const seconds = argNumber(argv, "seconds")
const sessions = argNumber(argv, "sessions")
const repetitions = Number(argValue(argv, "repetitions") ?? "1")
const layouts = [1, 16] as const
/** The store's own commands (lookups, scripts); not the cluster's bookkeeping. */
const STORE_COMMANDS = new Set(["hmget", "evalsha", "eval"])

interface Throughput {
  readonly inflight: number
  readonly opsPerSec: number
  readonly errors: number
}

const onMaster = async <A>(url: string, f: (client: Redis) => Promise<A>): Promise<A> => {
  const client = new Redis(url, { maxRetriesPerRequest: 1 })
  client.on("error", () => {})
  try {
    return await f(client)
  } finally {
    client.disconnect()
  }
}

const sessionKeys = (client: Redis) =>
  (async () => {
    let cursor = "0"
    let count = 0
    do {
      const [next, keys] = await client.scan(cursor, "MATCH", "*}:s:*", "COUNT", 1000)
      cursor = next
      count += keys.length
    } while (cursor !== "0")
    return count
  })()

const storeCommands = async (client: Redis) => {
  const text = await client.info("commandstats")
  let calls = 0
  for (const match of text.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) {
    if (STORE_COMMANDS.has(match[1])) calls += Number(match[2])
  }
  return calls
}

const share = (values: ReadonlyArray<number>) => {
  const total = values.reduce((a, b) => a + b, 0)
  return values.map((v) => (total === 0 ? 0 : Math.round((1000 * v) / total) / 10))
}

const main = async () => {
  const cluster = await startCluster()
  if (cluster === undefined) throw new Error("redis-server is not installed")
  try {
    const masters = (await cluster.masters()).map((master) => master.url)
    const rows: Array<{
      buckets: number
      throughput: Array<Throughput>
      keysPerMaster: Array<number>
      commandsPerMaster: Array<number>
    }> = []
    for (let rep = 0; rep < repetitions; rep++) {
      for (const buckets of rep % 2 === 0 ? layouts : [...layouts].reverse()) {
        await Promise.all(masters.map((url) => onMaster(url, (c) => c.flushall().then(() => c.config("RESETSTAT")))))
        const out = await runJson<{ results: Array<Throughput> }>(
          "src/cases/redis-child.ts",
          [
            "--store",
            "ours",
            "--nodes",
            cluster.urls.join(","),
            "--buckets",
            String(buckets),
            "--inflight",
            "1,64",
            "--seconds",
            String(seconds),
            "--sessions",
            String(sessions)
          ],
          { timeoutMs: 300_000 }
        )
        const keysPerMaster = await Promise.all(masters.map((url) => onMaster(url, sessionKeys)))
        const commandsPerMaster = await Promise.all(masters.map((url) => onMaster(url, storeCommands)))
        rows.push({ buckets, throughput: out.results, keysPerMaster, commandsPerMaster })
        console.error(
          `buckets ${buckets}: ${
            out.results.map((r) => `${r.inflight} in flight ${r.opsPerSec.toFixed(0)}/s`).join(", ")
          }; keys per master ${keysPerMaster.join("/")}; store commands per master ${commandsPerMaster.join("/")}`
        )
      }
    }
    console.error(
      "\n| buckets | 1 in flight | 64 in flight | session keys per master (%) | store commands per master (%) |"
    )
    console.error("| --- | --- | --- | --- | --- |")
    for (const row of rows) {
      const at = (n: number) => row.throughput.find((r) => r.inflight === n)?.opsPerSec.toFixed(0) ?? "-"
      console.error(
        `| ${row.buckets} | ${at(1)}/s | ${at(64)}/s | ${share(row.keysPerMaster).join(" / ")} | ${
          share(row.commandsPerMaster).join(" / ")
        } |`
      )
    }
    process.stdout.write(JSON.stringify({ masters: masters.length, seconds, sessions, rows }) + "\n")
  } finally {
    await cluster.stop()
  }
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})
