/**
 * Case 0, in one process: Effect operations and CPU per request of each variant of
 * `ops-variants.ts`, served in process by `HttpApp.toWebHandlerLayer` (no sockets). Prints one
 * JSON line.
 *
 *   node --import tsx src/cases/ops-child.ts --rounds 10 --requests 300 --counted 20
 *
 * Operations are counted by a supervisor (`RuntimeFlags.enableOpSupervision` +
 * `Supervisor.addSupervisor`) on a handler of its own: the count is exact and noise cannot move
 * it. CPU is measured on a second handler without the supervisor, round by round, every variant
 * in every round (in a rotating order), so that a busy machine weighs on all of them alike.
 */
import * as HttpApp from "@effect/platform/HttpApp"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as RuntimeFlags from "effect/RuntimeFlags"
import * as Supervisor from "effect/Supervisor"
import { setImmediate } from "node:timers/promises"
import { argNumber, argValue } from "../lib/env.js"
import { othersShare, sampleMachine } from "../lib/noise.js"
import { cookieFrom, type OpsVariant, variants } from "./ops-variants.js"

const argv = process.argv.slice(2)
const rounds = argNumber(argv, "rounds")
const requests = argNumber(argv, "requests")
const counted = argNumber(argv, "counted")
const selected = argValue(argv, "variants")?.split(",")

/** Counts every operation of every fiber it supervises. */
class OpCounter extends Supervisor.AbstractSupervisor<number> {
  count = 0
  readonly value = Effect.sync(() => this.count)
  override onEffect(): void {
    this.count++
  }
}

interface Client {
  /** Sends one request; checks its answer (status, session kept, body). */
  readonly send: () => Promise<void>
  readonly dispose: () => Promise<void>
}

const URL_ = "http://localhost/"

const makeClient = async (variant: OpsVariant, counter?: OpCounter): Promise<Client> => {
  const { app, layer } = variant.make()
  const full = counter === undefined
    ? layer
    : Layer.mergeAll(layer, RuntimeFlags.enableOpSupervision, Supervisor.addSupervisor(counter))
  const { dispose, handler } = HttpApp.toWebHandlerLayer(app, full)
  const first = await handler(new Request(new URL(variant.firstPath ?? "/", URL_)))
  const firstBody = await first.text()
  if (first.status !== 200) throw new Error(`${variant.name}: first request answered ${first.status}: ${firstBody}`)
  const headers = (variant.headers ?? cookieFrom)(first)
  const sent = new Map(
    (headers.cookie ?? "").split("; ").filter((pair) => pair !== "").map((pair) =>
      pair.split("=", 2) as [string, string]
    )
  )
  let previous: string | undefined
  const send = async () => {
    const response = await handler(new Request(URL_, { headers }))
    const body = await response.text()
    if (response.status !== 200) throw new Error(`${variant.name}: answered ${response.status}: ${body}`)
    // the session must persist: a cookie we sent is never replaced, the body follows the rule
    for (const line of response.headers.getSetCookie()) {
      const [name, value] = line.split(";")[0].split("=", 2)
      if (sent.has(name) && sent.get(name) !== value) throw new Error(`${variant.name}: the session was replaced`)
    }
    const expected = previous === undefined
      ? body
      : variant.body === "counter"
      ? String(Number(previous) + 1)
      : previous
    if (body !== expected) throw new Error(`${variant.name}: body ${JSON.stringify(body)}, expected ${expected}`)
    previous = body
  }
  return { send, dispose }
}

const chosen = variants.filter((v) => selected === undefined || selected.includes(v.name))

/** Exact operations of each of `counted` requests (after a first one that opened the session). */
const countOps = async (variant: OpsVariant): Promise<Array<number>> => {
  const counter = new OpCounter()
  const client = await makeClient(variant, counter)
  const perRequest: Array<number> = []
  try {
    await client.send()
    for (let i = 0; i < counted; i++) {
      await setImmediate()
      const before = counter.count
      await client.send()
      // let the request's fiber finish (it answers before its last steps)
      await setImmediate()
      perRequest.push(counter.count - before)
    }
  } finally {
    await client.dispose()
  }
  if (counter.count === 0) throw new Error(`${variant.name}: the supervisor saw no operation`)
  return perRequest
}

const main = async () => {
  const ops: Record<string, Array<number>> = {}
  for (const variant of chosen) ops[variant.name] = await countOps(variant)

  const clients = await Promise.all(chosen.map((variant) => makeClient(variant)))
  const cpu: Record<string, Array<number>> = Object.fromEntries(chosen.map((v) => [v.name, []]))
  const shares: Array<number | null> = []
  try {
    // warm-up: every code path compiled before the first timed round
    for (const client of clients) for (let i = 0; i < requests; i++) await client.send()
    for (let round = 0; round < rounds; round++) {
      for (let k = 0; k < chosen.length; k++) {
        const i = (round + k) % chosen.length
        const machine = sampleMachine()
        const started = process.cpuUsage()
        for (let n = 0; n < requests; n++) await clients[i].send()
        const used = process.cpuUsage(started)
        const own = used.user + used.system
        cpu[chosen[i].name].push(own / requests)
        shares.push(othersShare(machine, sampleMachine(), own) ?? null)
      }
    }
  } finally {
    for (const client of clients) await client.dispose()
  }
  process.stdout.write(
    JSON.stringify({
      rounds,
      requests,
      variants: chosen.map((v) => ({
        name: v.name,
        label: v.label,
        bare: v.bare === true,
        floor: v.floor === true,
        ops: ops[v.name],
        cpuMicros: cpu[v.name]
      })),
      shares
    }) + "\n"
  )
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})
