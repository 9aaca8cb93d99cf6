/**
 * Child processes: every measurement runs in its own process (clean heap, one store at a time),
 * pinned to a core when `taskset` and two cores are there. Every child has a hard time limit and
 * is ended by its pid.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process"
import { existsSync, readFileSync } from "node:fs"
import { createServer } from "node:net"
import { cpus } from "node:os"
import { join } from "node:path"
import { benchDir } from "./env.js"

let pinning: boolean | undefined

/** Whether children can be pinned (taskset present, at least two cores, not disabled). */
export const canPin = (): boolean => {
  if (pinning !== undefined) return pinning
  if (process.env.BENCH_NO_PIN === "1" || cpus().length < 2) return (pinning = false)
  try {
    execFileSync("taskset", ["-c", "0", "true"], { stdio: "ignore" })
    pinning = true
  } catch {
    pinning = false
  }
  return pinning
}

/** The command line of a TypeScript child: `[taskset -c N] node [nodeArgs] --import tsx file args`. */
export const nodeCommand = (
  file: string,
  args: ReadonlyArray<string>,
  options: { readonly core?: number; readonly nodeArgs?: ReadonlyArray<string> } = {}
): { readonly command: string; readonly args: Array<string> } => {
  const node = [...(options.nodeArgs ?? []), "--import", "tsx", join(benchDir, file), ...args]
  return options.core !== undefined && canPin()
    ? { command: "taskset", args: ["-c", String(options.core), process.execPath, ...node] }
    : { command: process.execPath, args: node }
}

/** Ends a child we started, by its pid, and waits (bounded) for it to exit. */
export const stop = async (child: ChildProcess, timeoutMs = 3_000): Promise<void> => {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()))
  process.kill(child.pid, "SIGTERM")
  const timer = setTimeout(() => {
    if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
      process.kill(child.pid, "SIGKILL")
    }
  }, timeoutMs)
  await exited
  clearTimeout(timer)
}

/**
 * Runs a TypeScript child to completion (bounded by `timeoutMs`) and parses the JSON it prints on
 * its last stdout line.
 */
export const runJson = async <A>(
  file: string,
  args: ReadonlyArray<string>,
  options: { readonly core?: number; readonly nodeArgs?: ReadonlyArray<string>; readonly timeoutMs: number }
): Promise<A> => {
  const { args: argv, command } = nodeCommand(file, args, options)
  const child = spawn(command, argv, { cwd: benchDir, stdio: ["ignore", "pipe", "pipe"] })
  let stdout = ""
  let stderr = ""
  child.stdout.on("data", (chunk) => (stdout += chunk))
  child.stderr.on("data", (chunk) => (stderr += chunk))
  let timedOut = false
  const timer = setTimeout(() => {
    timedOut = true
    void stop(child)
  }, options.timeoutMs)
  const code = await new Promise<number | null>((resolve) => child.once("exit", (c) => resolve(c)))
  clearTimeout(timer)
  const last = stdout.trim().split("\n").pop() ?? ""
  if (timedOut) throw new Error(`${file} ${args.join(" ")}: timed out after ${options.timeoutMs} ms\n${stderr}`)
  if (code !== 0 || !last.startsWith("{")) {
    throw new Error(`${file} ${args.join(" ")}: exit ${code}\n${stderr.slice(-4000)}\n${stdout.slice(-2000)}`)
  }
  return JSON.parse(last) as A
}

/** A free TCP port on loopback. */
export const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      const port = typeof address === "object" && address !== null ? address.port : 0
      server.close(() => resolve(port))
    })
  })

const ticksPerSecond = (() => {
  try {
    return Number(execFileSync("getconf", ["CLK_TCK"]).toString().trim()) || 100
  } catch {
    return 100
  }
})()

/** CPU time (user + system) of a process so far, in microseconds, from `/proc/<pid>/stat`. */
export const cpuMicros = (pid: number): number => {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
  // the command name (field 2) may hold spaces: count fields after its closing parenthesis
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
  const utime = Number(fields[11])
  const stime = Number(fields[12])
  return ((utime + stime) * 1e6) / ticksPerSecond
}

/** Resident set size of a process, in bytes, from `/proc/<pid>/status`. */
export const rssBytes = (pid: number): number => {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))
  return match === null ? NaN : Number(match[1]) * 1024
}

/** Waits until `check` resolves true, polling every `everyMs`, for at most `timeoutMs`. */
export const waitFor = async (check: () => Promise<boolean>, timeoutMs: number, everyMs = 50): Promise<boolean> => {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return true
    await new Promise((resolve) => setTimeout(resolve, everyMs))
  }
  return false
}

/** Path of an executable on PATH, if any. */
export const which = (name: string): string | undefined => {
  for (const dir of (process.env.PATH ?? "").split(":")) {
    if (dir !== "" && existsSync(join(dir, name))) return join(dir, name)
  }
  return undefined
}

/** Runs tasks with at most `concurrency` at once; results in task order. */
export const pool = async <A>(tasks: ReadonlyArray<() => Promise<A>>, concurrency: number): Promise<Array<A>> => {
  const results = new Array<A>(tasks.length)
  let next = 0
  const worker = async () => {
    while (next < tasks.length) {
      const i = next++
      results[i] = await tasks[i]()
    }
  }
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, tasks.length)) }, worker))
  return results
}

/**
 * Sends `message` to a child over its IPC channel and waits (bounded) for its first answer that
 * `accept` takes; fails if the child exits or does not answer in time.
 */
export const ask = <A>(
  child: ChildProcess,
  message: unknown,
  accept: (answer: any) => boolean,
  timeoutMs: number
): Promise<A> =>
  new Promise<A>((resolve, reject) => {
    const done = () => {
      clearTimeout(timer)
      child.off("message", onMessage)
      child.off("exit", onExit)
    }
    const onMessage = (answer: unknown) => {
      if (!accept(answer)) return
      done()
      resolve(answer as A)
    }
    const onExit = (code: number | null, signal: string | null) => {
      done()
      reject(new Error(`child ${child.pid} exited (${code ?? signal}) before answering`))
    }
    const timer = setTimeout(() => {
      done()
      reject(new Error(`child ${child.pid} did not answer within ${timeoutMs} ms`))
    }, timeoutMs)
    child.on("message", onMessage)
    child.once("exit", onExit)
    if (message !== undefined) child.send(message as any)
  })
