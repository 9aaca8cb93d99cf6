/**
 * Starts one benchmark server on loopback: `node --import tsx src/http/server.ts --name bare-effect --port 3000`.
 * Every server answers `GET /` with the session's counter after bumping it (except `bare-effect`,
 * which has no session); the harness makes the first request without a cookie and all the others
 * with the cookie it got.
 *
 * Started with an IPC channel (as the HTTP case does), the server reports its own CPU time on
 * request: `{ type: "cpu" }` is answered with `{ type: "cpu", micros }` (`process.cpuUsage()`, user
 * + system of all its threads, in µs), so that CPU per request is what this process spent, whoever
 * else shares the cores.
 */
import { argNumber, argValue } from "../lib/env.js"

const argv = process.argv.slice(2)
const name = argValue(argv, "name") ?? ""
const port = argNumber(argv, "port")

if (!/^[a-z-]+$/.test(name)) throw new Error(`bad server name ${JSON.stringify(name)}`)
const server = (await import(`./servers/${name}.ts`)) as { readonly start: (port: number) => void | Promise<void> }
await server.start(port)

if (process.send !== undefined) {
  process.on("message", (message: { readonly type?: string }) => {
    if (message.type !== "cpu") return
    const { system, user } = process.cpuUsage()
    process.send!({ type: "cpu", micros: user + system })
  })
}

// exit normally on SIGTERM, so that `--cpu-prof` can write its profile
process.on("SIGTERM", () => process.exit(0))
