/**
 * Summarizes `node --cpu-prof` output: self time by function and by area (effect runtime, the
 * library's own code, peers, node, GC). Picks the main thread's profile (a `--import tsx` process
 * also writes one for the loader thread, almost all idle).
 *
 *   node --import tsx src/tools/profile-summary.ts --dir results/profiles/ours-get [--top 25]
 */
import { readdirSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { argValue } from "../lib/env.js"

interface CallFrame {
  readonly functionName: string
  readonly url: string
  readonly lineNumber: number
}
interface ProfileNode {
  readonly id: number
  readonly callFrame: CallFrame
  readonly children?: ReadonlyArray<number>
}
interface Profile {
  readonly nodes: ReadonlyArray<ProfileNode>
  readonly samples: ReadonlyArray<number>
  readonly timeDeltas: ReadonlyArray<number>
}

export interface Summary {
  readonly file: string
  readonly totalMs: number
  readonly busyMs: number
  readonly areas: ReadonlyArray<{ readonly area: string; readonly ms: number; readonly share: number }>
  readonly functions: ReadonlyArray<{ readonly name: string; readonly ms: number; readonly share: number }>
  /** Inclusive time (self + callees) of the library's own functions (src/), by function. */
  readonly library: ReadonlyArray<{ readonly name: string; readonly ms: number; readonly share: number }>
}

const areaOf = (frame: CallFrame): string => {
  const { functionName, url } = frame
  if (functionName === "(garbage collector)") return "GC"
  if (functionName === "(idle)" || functionName === "(program)") return "idle/program"
  if (
    url.includes("internal/modules") || url.includes("/node_modules/tsx/") || url.includes("/node_modules/esbuild/")
  ) {
    return "module loading (startup, tsx)"
  }
  if (url.includes("internal/source_map")) return "source maps (enabled by tsx)"
  if (url.includes("/node_modules/effect/")) return "effect runtime"
  if (url.includes("/node_modules/@effect/")) return "@effect/platform"
  if (url.includes("/src/") && !url.includes("node_modules") && !url.includes("/bench/")) return "effect-session (src/)"
  if (url.includes("/bench/src/")) return "bench harness"
  if (url.includes("node_modules")) {
    const match = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)
    return match === null ? "other packages" : match[1]
  }
  return "node internals / native"
}

const load = (file: string): Profile => JSON.parse(readFileSync(file, "utf8")) as Profile

/** Summarizes the busiest profile of a directory. */
export const summarize = (dir: string, top = 25): Summary => {
  const files = readdirSync(dir).filter((name) => name.endsWith(".cpuprofile")).map((name) => join(dir, name))
  if (files.length === 0) throw new Error(`no .cpuprofile in ${dir}`)
  let best: { file: string; profile: Profile; busy: number } | undefined
  for (const file of files) {
    const profile = load(file)
    const byId = new Map(profile.nodes.map((node) => [node.id, node]))
    let busy = 0
    profile.samples.forEach((id, i) => {
      if (byId.get(id)?.callFrame.functionName !== "(idle)") busy += profile.timeDeltas[i] ?? 0
    })
    if (best === undefined || busy > best.busy) best = { file, profile, busy }
  }
  const { file, profile } = best!
  const byId = new Map(profile.nodes.map((node) => [node.id, node]))
  const areas = new Map<string, number>()
  const functions = new Map<string, number>()
  let total = 0
  let busy = 0
  profile.samples.forEach((id, i) => {
    const delta = profile.timeDeltas[i] ?? 0
    const frame = byId.get(id)!.callFrame
    total += delta
    if (frame.functionName !== "(idle)") busy += delta
    const area = areaOf(frame)
    areas.set(area, (areas.get(area) ?? 0) + delta)
    const where = frame.url === "" ? "" : ` ${frame.url.split("/").slice(-1)[0]}:${frame.lineNumber + 1}`
    const name = `${frame.functionName || "(anonymous)"}${where}`
    functions.set(name, (functions.get(name) ?? 0) + delta)
  })
  // inclusive time of src/ functions: every sample counts once for each distinct library frame on its stack
  const parent = new Map<number, number>()
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id)
  const inclusive = new Map<string, number>()
  profile.samples.forEach((id, i) => {
    const delta = profile.timeDeltas[i] ?? 0
    const seen = new Set<string>()
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const frame = byId.get(at)!.callFrame
      if (areaOf(frame) !== "effect-session (src/)") continue
      const name = `${frame.functionName || "(anonymous)"} ${frame.url.split("/").slice(-1)[0]}:${frame.lineNumber + 1}`
      if (seen.has(name)) continue
      seen.add(name)
      inclusive.set(name, (inclusive.get(name) ?? 0) + delta)
    }
  })
  const sorted = (map: Map<string, number>) => [...map.entries()].sort((a, b) => b[1] - a[1])
  return {
    file,
    totalMs: total / 1000,
    busyMs: busy / 1000,
    areas: sorted(areas).map(([area, us]) => ({ area, ms: us / 1000, share: us / busy })),
    functions: sorted(functions).slice(0, top).map(([name, us]) => ({ name, ms: us / 1000, share: us / busy })),
    library: sorted(inclusive).slice(0, top).map(([name, us]) => ({ name, ms: us / 1000, share: us / busy }))
  }
}

/** The summary as markdown. */
export const toMarkdown = (summary: Summary, title: string): string => {
  const lines = [
    `#### Profile: ${title}`,
    "",
    `Busy ${summary.busyMs.toFixed(0)} ms of ${summary.totalMs.toFixed(0)} ms sampled (main thread).`,
    "",
    "| area | self time | share of busy |",
    "|---|---:|---:|",
    ...summary.areas.filter((a) => a.area !== "idle/program").map((a) =>
      `| ${a.area} | ${a.ms.toFixed(0)} ms | ${(a.share * 100).toFixed(1)}% |`
    ),
    "",
    "| function (self time) | ms | share |",
    "|---|---:|---:|",
    ...summary.functions.filter((f) => !f.name.startsWith("(idle)")).map((f) =>
      `| \`${f.name.replace(/\|/g, "\\|")}\` | ${f.ms.toFixed(0)} | ${(f.share * 100).toFixed(1)}% |`
    ),
    "",
    "| effect-session function (inclusive: self + callees) | ms | share |",
    "|---|---:|---:|",
    ...summary.library.map((f) =>
      `| \`${f.name.replace(/\|/g, "\\|")}\` | ${f.ms.toFixed(0)} | ${(f.share * 100).toFixed(1)}% |`
    )
  ]
  return lines.join("\n")
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const argv = process.argv.slice(2)
  const dir = argValue(argv, "dir")
  if (dir === undefined) throw new Error("usage: profile-summary.ts --dir <folder with .cpuprofile files> [--top N]")
  process.stdout.write(toMarkdown(summarize(dir, Number(argValue(argv, "top") ?? 25)), dir) + "\n")
}
