/**
 * Starts one benchmark server on loopback: `node --import tsx src/http/server.ts --name bare-effect --port 3000`.
 * Every server answers `GET /` with the session's counter after bumping it (except `bare-effect`,
 * which has no session); the harness makes the first request without a cookie and all the others
 * with the cookie it got.
 */
import { argNumber, argValue } from "../lib/env.js"

const argv = process.argv.slice(2)
const name = argValue(argv, "name") ?? ""
const port = argNumber(argv, "port")

if (!/^[a-z-]+$/.test(name)) throw new Error(`bad server name ${JSON.stringify(name)}`)
const server = (await import(`./servers/${name}.ts`)) as { readonly start: (port: number) => void | Promise<void> }
await server.start(port)

// exit normally on SIGTERM, so that `--cpu-prof` can write its profile
process.on("SIGTERM", () => process.exit(0))
