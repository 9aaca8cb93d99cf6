/**
 * A throwaway PostgreSQL server for the SQL tests, from Debian's `postgresql` package: `initdb`
 * into a temporary directory, `pg_ctl start` on a free loopback port, stopped by the pid in its
 * `postmaster.pid` (never the package's own cluster on 5432).
 *
 * PostgreSQL refuses to run as root: as root, the binaries run as the `postgres` user
 * (`runuser -u postgres --`) and the directory is given to that user. Missing binaries: the suites
 * fail when `CI` is set (they are never skipped there) and are skipped with a message otherwise.
 */
import { spawnSync } from "node:child_process"
import { randomBytes } from "node:crypto"
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import * as path from "node:path"
import * as Pg from "pg"
import { freePort } from "../redis/server.js"

const BIN = process.env.POSTGRES_BIN ?? "/usr/lib/postgresql/15/bin"

export interface PostgresServer {
  readonly port: number
  /** A `postgres://` URL of a database of this server (`postgres` by default). */
  readonly url: (database?: string) => string
  /** Runs one statement on the `postgres` database. */
  readonly query: (text: string, values?: ReadonlyArray<unknown>) => Promise<ReadonlyArray<any>>
  /** Kills the server like a crash (SIGKILL to the postmaster and its processes) and waits for them. */
  readonly kill: () => Promise<void>
  /** Starts it again on the same directory and port (crash recovery keeps committed data). */
  readonly start: () => Promise<void>
  /** Stops the server's processes where they are (SIGSTOP): it takes connections and answers nothing. */
  readonly pause: () => Promise<void>
  /** Lets them run again (SIGCONT). */
  readonly resume: () => Promise<void>
  /** Stops it for good and removes its directory. */
  readonly stop: () => Promise<void>
  /** The postmaster's pid and its processes' (empty when it is not running). */
  readonly pids: () => Array<number>
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

export const postgresAvailable = (): boolean =>
  existsSync(path.join(BIN, "initdb")) && existsSync(path.join(BIN, "pg_ctl"))

/** A fresh table prefix, so tests sharing one server never see each other's sessions. */
export const freshPrefix = (name = "t"): string => `t_${name}_${randomBytes(5).toString("hex")}_`

const asRoot = typeof process.getuid === "function" && process.getuid() === 0

/** Runs a PostgreSQL binary, as the `postgres` user when this process is root. */
const run = (binary: string, args: ReadonlyArray<string>): void => {
  const command = asRoot ? "runuser" : path.join(BIN, binary)
  const argv = asRoot ? ["-u", "postgres", "--", path.join(BIN, binary), ...args] : [...args]
  const result = spawnSync(command, argv, { encoding: "utf8", timeout: 60_000 })
  if (result.status !== 0) {
    throw new Error(`${binary} failed (${result.status ?? result.signal}): ${result.stderr || result.stdout}`)
  }
}

const postgresUser = (): { readonly uid: number; readonly gid: number } => {
  const line = readFileSync("/etc/passwd", "utf8").split("\n").find((entry) => entry.startsWith("postgres:"))
  if (line === undefined) throw new Error("no postgres user: install Debian's postgresql package")
  const [, , uid, gid] = line.split(":")
  return { uid: Number(uid), gid: Number(gid) }
}

/** The processes whose parent is `pid` (the postmaster's backends), from /proc. */
const childrenOf = (pid: number): Array<number> => {
  const children: Array<number> = []
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8")
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1])
      if (ppid === pid) children.push(Number(entry))
    } catch {
      // the process ended meanwhile
    }
  }
  return children
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

const waitGone = async (pids: ReadonlyArray<number>, timeoutMs = 10_000) => {
  const deadline = Date.now() + timeoutMs
  while (pids.some(alive) && Date.now() < deadline) await sleep(20)
  if (pids.some(alive)) throw new Error(`PostgreSQL processes ${pids.filter(alive).join(", ")} did not exit`)
}

/**
 * The server for one test file, or `undefined` when the suites must be skipped (no PostgreSQL
 * binaries outside CI). In CI, missing binaries throw.
 */
export const startPostgres = async (): Promise<PostgresServer | undefined> => {
  if (!postgresAvailable()) {
    if (process.env.CI) {
      throw new Error(
        `PostgreSQL binaries are not in ${BIN}: the SQL suites cannot be skipped in CI (apt-get install -y postgresql)`
      )
    }
    console.warn(`SKIPPING the PostgreSQL suites: no PostgreSQL binaries in ${BIN} (apt-get install -y postgresql)`)
    return undefined
  }
  return spawnPostgres()
}

/** Creates a cluster in a temporary directory and starts it on a free loopback port. */
export const spawnPostgres = async (): Promise<PostgresServer> => {
  const root = mkdtempSync(path.join(tmpdir(), "effect-session-pg-"))
  const data = path.join(root, "data")
  if (asRoot) {
    const { gid, uid } = postgresUser()
    chownSync(root, uid, gid)
  }
  run("initdb", ["-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"])
  const port = await freePort()
  const settings = [
    `-p ${port}`,
    "-c listen_addresses=127.0.0.1",
    `-c unix_socket_directories=${root}`,
    "-c fsync=off",
    "-c full_page_writes=off",
    "-c shared_buffers=32MB",
    "-c max_connections=300",
    "-c shared_preload_libraries=pg_stat_statements",
    "-c log_min_messages=warning"
  ].join(" ")
  let pid: number | undefined
  const cleanup = () => {
    if (pid !== undefined && alive(pid)) process.kill(pid, "SIGKILL")
  }
  process.once("exit", cleanup)
  const start = async () => {
    run("pg_ctl", ["-D", data, "-l", path.join(root, "log"), "-w", "-t", "60", "-o", settings, "start"])
    pid = Number(readFileSync(path.join(data, "postmaster.pid"), "utf8").split("\n")[0])
  }
  await start()
  const url = (database = "postgres") => `postgres://postgres@127.0.0.1:${port}/${database}`
  const query = async (text: string, values: ReadonlyArray<unknown> = []) => {
    const client = new Pg.Client({ connectionString: url(), connectionTimeoutMillis: 5000 })
    await client.connect()
    try {
      return (await client.query(text, values as Array<unknown>)).rows
    } finally {
      await client.end()
    }
  }
  return {
    port,
    url,
    query,
    kill: async () => {
      if (pid === undefined || !alive(pid)) return
      const backends = childrenOf(pid)
      process.kill(pid, "SIGKILL")
      for (const child of backends) if (alive(child)) process.kill(child, "SIGKILL")
      await waitGone([pid, ...backends])
      pid = undefined
    },
    start,
    pause: async () => {
      if (pid === undefined) return
      for (const target of [pid, ...childrenOf(pid)]) process.kill(target, "SIGSTOP")
    },
    resume: async () => {
      if (pid === undefined) return
      for (const target of [pid, ...childrenOf(pid)]) process.kill(target, "SIGCONT")
    },
    pids: () => (pid === undefined ? [] : [pid, ...childrenOf(pid)]),
    stop: async () => {
      if (pid !== undefined && alive(pid)) {
        process.kill(pid, "SIGINT") // fast shutdown
        const stopping = pid
        await waitGone([stopping]).catch(() => process.kill(stopping, "SIGKILL"))
      }
      pid = undefined
      process.off("exit", cleanup)
      rmSync(root, { recursive: true, force: true })
    }
  }
}
