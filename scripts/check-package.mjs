// Installs the package as a user would, into a scratch project in a temporary directory with only
// its peers, and uses every entry of its `exports` map from there:
//   - under plain `node` (ESM): each entry imports and exports something;
//   - under `tsc` with `moduleResolution` `nodenext` and `bundler` (strict, skipLibCheck off): an
//     import of each entry type-checks, and every name it exports at run time is declared.
//
//   node scripts/check-package.mjs                  `npm pack` (which runs `prepare`, the build),
//                                                   the tarball's contents checked against
//                                                   `exports`, then installed; publint and
//                                                   @arethetypeswrong/cli run on the tarball
//   node scripts/check-package.mjs --from <spec>    installs <spec> instead: a git URL
//                                                   (`git+file:///path/to/clone`, npm clones it,
//                                                   installs its devDependencies and runs
//                                                   `prepare`) or a directory path
//   --keep                                          keeps the scratch project (its path is printed)
import { execFileSync } from "node:child_process"
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"

const repo = resolve(new URL("..", import.meta.url).pathname)
const pkg = JSON.parse(readFileSync(join(repo, "package.json"), "utf8"))
const argv = process.argv.slice(2)
const from = argv.includes("--from") ? argv[argv.indexOf("--from") + 1] : undefined
const keep = argv.includes("--keep")

const scratch = mkdtempSync(join(tmpdir(), "effect-session-package-"))
const problems = []
const sh = (command, args, options = {}) => {
  const started = Date.now()
  const out = execFileSync(command, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], ...options })
  console.log(`$ ${command} ${args.join(" ")}  (${((Date.now() - started) / 1000).toFixed(1)} s)`)
  return out
}
/** Runs a check that reports on stdout/stderr and exits non-zero on problems. */
const check = (name, command, args, options = {}) => {
  try {
    const out = sh(command, args, options)
    console.log(out.trim())
  } catch (error) {
    console.log(`${error.stdout ?? ""}${error.stderr ?? ""}`.trim())
    problems.push(`${name} failed`)
  }
}

// The entries: "." and every subpath, with the files they point to.
const entries = Object.entries(pkg.exports).map(([subpath, targets]) => ({
  specifier: subpath === "." ? pkg.name : `${pkg.name}/${subpath.slice(2)}`,
  targets: Object.values(targets).map((target) => target.replace(/^\.\//, ""))
}))

try {
  let spec = from
  if (from === undefined) {
    const packed = JSON.parse(
      sh("npm", ["pack", "--json", "--pack-destination", scratch], { cwd: repo, stdio: ["ignore", "pipe", "inherit"] })
    )[0]
    spec = join(scratch, packed.filename)
    const files = new Set(packed.files.map((file) => file.path))
    console.log(`packed ${packed.filename}: ${packed.entryCount} files, ${(packed.size / 1024).toFixed(0)} kB`)
    for (const target of [pkg.main, pkg.types, ...entries.flatMap((entry) => entry.targets)]) {
      if (!files.has(target.replace(/^\.\//, ""))) problems.push(`the tarball lacks ${target}`)
    }
    check("publint", join(repo, "node_modules/.bin/publint"), ["run", spec, "--strict"], { cwd: scratch })
    // ESM only (no `require` condition): the CommonJS resolutions are not ours to pass
    check("attw", join(repo, "node_modules/.bin/attw"), [spec, "--profile", "esm-only"], { cwd: scratch })
  }

  // A user's project: the package and its peers (the versions this repository pins), nothing else.
  const project = join(scratch, "project")
  mkdirSync(project)
  writeFileSync(
    join(project, "package.json"),
    JSON.stringify({ name: "scratch", private: true, type: "module" }, null, 2)
  )
  const peers = Object.keys(pkg.peerDependencies).map((name) => `${name}@${pkg.devDependencies[name]}`)
  // @types/node only for tsc: ioredis' declarations use Buffer (any Node project has them)
  const types = `@types/node@${pkg.devDependencies["@types/node"]}`
  // From the tarball, no install script is needed (dist/ is in it): skip them all, so that
  // better-sqlite3 is not compiled for an import that never opens a database. A git URL or a
  // path needs its `prepare`.
  const scripts = from === undefined ? ["--ignore-scripts"] : []
  sh("npm", ["install", "--no-audit", "--no-fund", ...scripts, spec, ...peers, types], { cwd: project })

  // Plain node, ESM: every entry imports; record what each exports at run time.
  const runtime = JSON.parse(
    sh(process.execPath, [
      "--input-type=module",
      "-e",
      `const out = {}
for (const specifier of ${JSON.stringify(entries.map((entry) => entry.specifier))}) {
  out[specifier] = Object.keys(await import(specifier))
}
console.log(JSON.stringify(out))`
    ], { cwd: project })
  )
  for (const { specifier } of entries) {
    const names = runtime[specifier]
    if (names.length === 0) problems.push(`node: ${specifier} exports nothing`)
    else console.log(`node: import "${specifier}": ${names.length} exports`)
  }

  // tsc, as users resolve: each entry imported, every run-time export used (so it must be declared).
  const lines = entries.map(({ specifier }, i) => `import * as M${i} from "${specifier}"`)
  entries.forEach(({ specifier }, i) => {
    lines.push(`export const uses${i} = [${runtime[specifier].map((name) => `M${i}.${name}`).join(", ")}] as const`)
  })
  writeFileSync(join(project, "entries.ts"), lines.join("\n") + "\n")
  const tsc = join(repo, "node_modules/typescript/bin/tsc")
  const common = { strict: true, noEmit: true, skipLibCheck: false, types: ["node"], target: "ES2022", lib: ["ES2022"] }
  for (
    const [name, options] of [
      ["nodenext", { module: "nodenext", moduleResolution: "nodenext" }],
      ["bundler", { module: "esnext", moduleResolution: "bundler" }]
    ]
  ) {
    const config = `tsconfig.${name}.json`
    writeFileSync(
      join(project, config),
      JSON.stringify({ compilerOptions: { ...common, ...options }, files: ["entries.ts"] }, null, 2)
    )
    try {
      sh(process.execPath, [tsc, "-p", config], { cwd: project })
      console.log(`tsc (moduleResolution ${name}): ${entries.length} entries type-check`)
    } catch (error) {
      const report = `${error.stdout ?? ""}${error.stderr ?? ""}`.trim().split("\n")
      console.log([...report.slice(0, 40), ...(report.length > 40 ? [`... ${report.length - 40} more lines`] : [])].join("\n"))
      problems.push(`tsc with moduleResolution ${name} failed`)
    }
  }
} catch (error) {
  problems.push(`${error.message}\n${error.stdout ?? ""}${error.stderr ?? ""}`.trim())
} finally {
  if (keep) console.log(`scratch project kept in ${scratch}`)
  else rmSync(scratch, { recursive: true, force: true })
}

for (const problem of problems) console.error(`FAIL ${problem}`)
console.log(`package: ${entries.length} entries, ${problems.length} problems (installed from ${from ?? "the packed tarball"})`)
process.exitCode = problems.length === 0 ? 0 : 1
