/**
 * An application instance in an OS process of its own, for the multi-process suites: a worker
 * script (test/redis/worker.ts, test/sql/worker.ts) driven over stdin and stdout with JSON lines,
 * `{ id, op, ... }` in, `{ id, ok, value | error | defect }` out, `{ ready: true }` once started.
 */
import { spawn } from "node:child_process"
import * as path from "node:path"
import * as readline from "node:readline"
import { fileURLToPath } from "node:url"

export interface Reply {
  readonly id?: number
  readonly ok?: boolean
  readonly value?: any
  readonly error?: { readonly _tag: string; readonly reason?: string }
  readonly defect?: string
  readonly ready?: boolean
}

/** An application instance in a process of its own. */
export interface Instance {
  /** Sends a command; resolves with the reply (a failure is a reply, not a rejection). */
  readonly call: (op: string, args?: Record<string, unknown>) => Promise<Reply>
  /** Sends a command and answers its value; rejects on a failure. */
  readonly ok: (op: string, args?: Record<string, unknown>) => Promise<any>
  /** Defects the instance reported (there must be none). */
  readonly defects: Array<string>
  /** Ends the instance (its runtime is disposed) and waits for its exit. */
  readonly stop: () => Promise<void>
}

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..")

/** Starts the worker script `script` under tsx, with `env` added to this process's environment. */
export const startProcess = (name: string, script: string, env: Record<string, string>): Promise<Instance> =>
  new Promise((resolve, reject) => {
    const child = spawn(path.join(root, "node_modules", ".bin", "tsx"), [script], {
      cwd: root,
      env: { ...process.env, ...env },
      stdio: ["pipe", "pipe", "inherit"]
    })
    const pending = new Map<number, (reply: Reply) => void>()
    const defects: Array<string> = []
    let next = 1
    // tsx compiles the worker at start: over 30 s on a loaded 2-core machine
    const startup = setTimeout(() => reject(new Error(`${name} did not start in time`)), 90_000)
    child.once("error", reject)
    child.once("exit", (code) => {
      clearTimeout(startup)
      reject(new Error(`${name} exited with ${code}`))
      for (const done of pending.values()) done({ ok: false, defect: `${name} exited with ${code}` })
      pending.clear()
    })
    const call = (op: string, args: Record<string, unknown> = {}) =>
      new Promise<Reply>((done, fail) => {
        const id = next++
        const timer = setTimeout(() => {
          pending.delete(id)
          fail(new Error(`${name}: ${op} got no answer in 20 s`))
        }, 20_000)
        pending.set(id, (reply) => {
          clearTimeout(timer)
          done(reply)
        })
        child.stdin!.write(`${JSON.stringify({ id, op, ...args })}\n`)
      })
    const instance: Instance = {
      call,
      defects,
      ok: async (op, args) => {
        const reply = await call(op, args)
        if (!reply.ok) throw new Error(`${name}: ${op} failed: ${JSON.stringify(reply.error ?? reply.defect)}`)
        return reply.value
      },
      stop: async () => {
        if (child.exitCode !== null || child.signalCode !== null) return
        const exited = new Promise<void>((done) => child.once("exit", () => done()))
        child.stdin!.end()
        const timer = setTimeout(() => child.kill("SIGKILL"), 10_000)
        await exited
        clearTimeout(timer)
      }
    }
    readline.createInterface({ input: child.stdout! }).on("line", (line) => {
      const reply = JSON.parse(line) as Reply
      if (reply.ready) {
        clearTimeout(startup)
        return resolve(instance)
      }
      if (reply.defect !== undefined) defects.push(reply.defect)
      const done = reply.id === undefined ? undefined : pending.get(reply.id)
      if (done !== undefined) {
        pending.delete(reply.id!)
        done(reply)
      }
    })
  })
