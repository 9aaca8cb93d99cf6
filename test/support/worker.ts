/**
 * The worker side of the multi-process protocol (see instance.ts): runs each command of stdin on
 * the runtime, writes each answer on stdout, and ends (disposing the runtime) when stdin closes.
 * Logs go to stderr: stdout carries the protocol only.
 */
import { Cause, type Effect, Exit, Layer, ManagedRuntime } from "effect"
import { AuthManager, SessionManager, type SessionStore } from "effect-session"
import * as readline from "node:readline"

/** One command: its id, the operation, and the operation's arguments. */
export interface Command {
  readonly id: number
  readonly op: string
  readonly [argument: string]: unknown
}

/**
 * The instance every worker runs: a manager with the options of `MANAGER_OPTIONS` (JSON of
 * `SessionManager.Options`) on `store`, with the mock auth manager's users alice and bob.
 */
export const managerRuntime = <E>(store: Layer.Layer<SessionStore.SessionStore, E>) =>
  ManagedRuntime.make(
    SessionManager.layer(JSON.parse(process.env.MANAGER_OPTIONS ?? "{}") as SessionManager.Options).pipe(
      Layer.provideMerge(store),
      Layer.provideMerge(AuthManager.layerMock({ users: { alice: {}, bob: {} } }))
    )
  )

const send = (message: unknown) => process.stdout.write(`${JSON.stringify(message)}\n`)

export const serve = <R, ER>(
  runtime: ManagedRuntime.ManagedRuntime<R, ER>,
  handle: (command: Command) => Effect.Effect<unknown, unknown, R>
): void => {
  console.log = (...args: Array<unknown>) => console.error(...args)
  console.info = console.log
  const main = async () => {
    await runtime.runtime()
    const lines = readline.createInterface({ input: process.stdin })
    lines.on("line", (line) => {
      const command = JSON.parse(line) as Command
      if (command.op === "exit") return lines.close()
      void runtime.runPromiseExit(handle(command)).then((exit) => {
        if (Exit.isSuccess(exit)) return send({ id: command.id, ok: true, value: exit.value ?? null })
        const failure = Cause.failureOption(exit.cause)
        if (failure._tag === "Some") {
          const error = failure.value as { _tag: string; reason?: string }
          return send({ id: command.id, ok: false, error: { _tag: error._tag, reason: error.reason } })
        }
        return send({ id: command.id, ok: false, defect: Cause.pretty(exit.cause) })
      })
    })
    lines.on("close", () => void runtime.dispose().then(() => process.exit(0)))
    send({ ready: true })
  }
  main().catch((error) => {
    console.error(error)
    process.exit(1)
  })
}
